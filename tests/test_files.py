"""utils/files.py: the one atomic writer — a failed write leaves the old file and no temporary file."""
import os

import pytest

from utils.files import atomic_target, write_bytes_atomic, write_text_atomic


def test_a_failed_write_keeps_the_old_file_and_no_leftover(tmp_path):
    path = tmp_path / "out.json"
    write_text_atomic(path, "good")
    with pytest.raises(RuntimeError):
        with atomic_target(path) as tmp:
            with open(tmp, "w") as fh:
                fh.write("half")
            raise RuntimeError("interrupted")
    assert path.read_text() == "good"
    assert os.listdir(tmp_path) == ["out.json"]


def test_writes_replace_and_create_folders(tmp_path):
    path = tmp_path / "new" / "deeper" / "x.bin"
    write_bytes_atomic(path, b"\x00\x01")
    write_bytes_atomic(path, b"\x02")
    assert path.read_bytes() == b"\x02" and os.listdir(path.parent) == ["x.bin"]
    with atomic_target(tmp_path / "m.safetensors", suffix=".safetensors") as tmp:
        assert tmp.endswith(".safetensors") and os.path.dirname(tmp) == str(tmp_path)
        open(tmp, "wb").close()
    assert (tmp_path / "m.safetensors").exists()


def test_permissions_are_those_of_a_plain_write(tmp_path):
    """A new file gets 0666 less the umask (as open() gives; not mkstemp's 0600, which a web server serving the
    file as another user could not read); a replaced file keeps its own permissions."""
    umask = os.umask(0o022)
    try:
        path = tmp_path / "scene.bundle"
        write_bytes_atomic(path, b"x")
        assert os.stat(path).st_mode & 0o777 == 0o644
        os.chmod(path, 0o600)
        write_bytes_atomic(path, b"y")
        assert os.stat(path).st_mode & 0o777 == 0o600
    finally:
        os.umask(umask)
