// The one error type of the decoder: a file that cannot be read, with a message naming the file
// and the problem (the JavaScript counterpart of codec.container.CompressedFormatError).

export class FormatError extends Error {
  constructor(message) {
    super(message);
    this.name = "FormatError";
  }
}
