"""A change of only the executable bit is a change: status reports it, checkout restores it."""

import json
import os
import stat

import pytest
from funcutil import object_path, oid_of, read_lock, tree_lines, umask


def _x(path) -> bool:
    return bool(os.stat(path).st_mode & 0o100)


def _tools(repo, mlvc, kind="copy"):
    assert mlvc("config", "cache.type", kind).exit_code == 0
    repo.root.gen({"tools/run.sh": "#!/bin/sh\necho hi\n", "tools/data.txt": "d"})
    r = mlvc("add", "tools")
    assert r.exit_code == 0, r.output
    return repo.root / "tools"


def test_status_reports_a_mode_change_inside_a_folder(repo, mlvc):
    tools = _tools(repo, mlvc)
    assert mlvc("status", "--check").exit_code == 0  # the stat cache and fingerprint are filled
    os.chmod(tools / "run.sh", 0o755)
    r = mlvc("status")
    assert "tools  modified" in r.stdout
    assert "    modified  tools/run.sh (mode changed)" in r.stdout
    assert mlvc("status", "--check").exit_code == 1
    (art,) = json.loads(mlvc("status", "--json").stdout)["artifacts"]
    oid = oid_of(b"#!/bin/sh\necho hi\n")
    assert art["changes"] == [{"path": "tools/run.sh", "change": "mode", "old_oid": oid, "new_oid": oid,
                               "mode_changed": True}]
    # recorded by commit, then clean
    assert mlvc("commit").exit_code == 0
    assert mlvc("status", "--check").exit_code == 0


def test_status_reports_content_and_mode_changed_together(repo, mlvc):
    tools = _tools(repo, mlvc)
    (tools / "run.sh").write_text("#!/bin/sh\necho changed\n")
    os.chmod(tools / "run.sh", 0o755)
    r = mlvc("status")
    assert "    modified  tools/run.sh (content and mode changed)" in r.stdout


def test_checkout_restores_the_recorded_bit_with_a_chmod(repo, mlvc):
    tools = _tools(repo, mlvc)
    os.chmod(tools / "run.sh", 0o755)
    os.chmod(tools / "data.txt", 0o600)  # other bits are the user's: only x is recorded
    ino = os.stat(tools / "run.sh").st_ino
    r = mlvc("checkout", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["modified"] == ["tools/run.sh"]
    assert not _x(tools / "run.sh")
    assert os.stat(tools / "run.sh").st_ino == ino  # a chmod, not a new file
    assert stat.S_IMODE(os.stat(tools / "data.txt").st_mode) == 0o600
    assert mlvc("status", "--check").exit_code == 0
    # and the other way: recorded executable, cleared in the workspace
    os.chmod(tools / "run.sh", 0o755)
    assert mlvc("commit").exit_code == 0
    os.chmod(tools / "run.sh", 0o644)
    assert mlvc("status", "--check").exit_code == 1
    assert mlvc("checkout").exit_code == 0
    assert _x(tools / "run.sh")
    assert mlvc("status", "--check").exit_code == 0


def test_a_single_file_artifact(repo, mlvc):
    repo.root.gen("run.sh", "#!/bin/sh\n")
    assert mlvc("add", "run.sh").exit_code == 0
    os.chmod(repo.root / "run.sh", 0o755)
    r = mlvc("status")
    assert "run.sh  modified" in r.stdout and "    modified  run.sh (mode changed)" in r.stdout
    (art,) = json.loads(mlvc("status", "--json").stdout)["artifacts"]
    assert art["changes"][0]["change"] == "mode"
    assert mlvc("checkout").exit_code == 0
    assert not _x(repo.root / "run.sh")
    os.chmod(repo.root / "run.sh", 0o755)
    assert mlvc("commit").exit_code == 0
    assert read_lock(repo.root)["artifacts"]["run.sh"]["executable"] is True
    os.chmod(repo.root / "run.sh", 0o644)
    assert mlvc("checkout").exit_code == 0
    assert _x(repo.root / "run.sh")
    assert mlvc("status", "--check").exit_code == 0


@pytest.mark.parametrize("kind", ["hardlink", "symlink"])
def test_a_linked_file_has_the_objects_mode_and_stays_linked(repo, mlvc, kind):
    # The workspace file is the cache object (read-only, 0444): its mode is not its own, so
    # status does not report it and checkout does not chmod the object (every file that
    # shares it would change); the recorded bit is kept (documented in concepts, link types).
    assert mlvc("config", "cache.type", kind).exit_code == 0
    repo.root.gen({"tools/run.sh": "#!/bin/sh\n", "tools/data.txt": "d"})
    os.chmod(repo.root / "tools" / "run.sh", 0o755)
    assert mlvc("add", "tools").exit_code == 0
    tree = read_lock(repo.root)["artifacts"]["tools"]["oid"]
    obj = object_path(repo.root, oid_of(b"#!/bin/sh\n"))
    assert mlvc("status", "--check").exit_code == 0
    r = mlvc("checkout")
    assert r.exit_code == 0 and "already matches" in r.stdout
    assert stat.S_IMODE(os.stat(obj).st_mode) == 0o444
    assert os.path.samefile(repo.root / "tools" / "run.sh", obj)
    assert tree_lines(repo.root, tree) == {"data.txt": oid_of(b"d"), "run.sh": oid_of(b"#!/bin/sh\n")}
    # an unprotected copy has a mode of its own: it gets the recorded bit back
    assert mlvc("unprotect", "tools/run.sh").exit_code == 0
    assert _x(repo.root / "tools" / "run.sh")
    os.chmod(repo.root / "tools" / "run.sh", 0o644)
    assert mlvc("status", "--check").exit_code == 1
    assert mlvc("checkout").exit_code == 0
    assert _x(repo.root / "tools" / "run.sh")


def test_a_bit_the_umask_withholds_is_not_vouched_for_by_the_fingerprint(repo, mlvc):
    # With a umask that takes the owner's x, a checked-out executable is not executable:
    # the folder's fingerprint saved after checkout must not hide that from status.
    tools = _tools(repo, mlvc)
    os.chmod(tools / "run.sh", 0o755)
    assert mlvc("commit").exit_code == 0
    os.unlink(tools / "run.sh")
    with umask(0o177):
        assert mlvc("checkout").exit_code == 0
    assert not _x(tools / "run.sh")
    r = mlvc("status")
    assert "    modified  tools/run.sh (mode changed)" in r.stdout, r.output
