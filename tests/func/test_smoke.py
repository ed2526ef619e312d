def test_add_status_checkout_roundtrip(repo, mlvc):
    repo.root.gen({"data": {"a.txt": "a", "sub": {"b.txt": "b"}}})
    r = mlvc("add", "data")
    assert r.exit_code == 0, r.output
    assert "git add .gitignore mlvc.yaml mlvc.lock" in r.stdout
    assert mlvc("status", "--check").exit_code == 0
    (repo.root / "data" / "a.txt").write_text("changed")
    r = mlvc("status", "--check")
    assert r.exit_code == 1
    assert "modified  data/a.txt" in r.stdout
    r = mlvc("checkout")
    assert r.exit_code == 3
    assert "not in the cache" in r.stderr
    assert (repo.root / "data" / "a.txt").read_text() == "changed"
    assert mlvc("checkout", "--force").exit_code == 0
    assert (repo.root / "data" / "a.txt").read_text() == "a"
