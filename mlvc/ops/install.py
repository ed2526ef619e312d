"""``install``: git hooks that keep the data in step with the code, and what they run.

``install`` writes three hooks (``scm.hooks``): pre-commit, post-checkout and pre-push, or,
with ``pre_commit_tool``, the same three as a ``repo: local`` entry of
``.pre-commit-config.yaml`` (ids ``mlvc-status``, ``mlvc-checkout``, ``mlvc-push``, as the
project's ``.pre-commit-hooks.yaml`` names them). Either way it registers the mlvc.lock
merge driver when ``mlvc.scm.merge`` is there. ``git_hook`` is what the hooks run
(``mlvc git-hook NAME ARGS``):

- pre-commit: refuses when mlvc.lock or mlvc.yaml has changes that are not staged, or when
  ``status`` is not clean (data changed but not recorded, a recorded version missing from
  the workspace or the cache, a stale stage), naming the command that fixes it;
- post-checkout: ``checkout`` after a branch checkout (its third argument is 1) that changes
  mlvc.lock or mlvc.yaml, never after a checkout of files nor during a rebase;
- pre-push: ``push`` of what the commits being pushed record, to the default remote; with no
  remote configured it warns and lets the push through.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

from mlvc.errors import ConfigError, NotAGitRepoError, ScmError
from mlvc.formats.lock import LOCK_FILE
from mlvc.formats.project import PROJECT_FILE
from mlvc.progress import NULL
from mlvc.repo import Repo
from mlvc.scm import hooks

PRE_COMMIT_CONFIG = ".pre-commit-config.yaml"
DEFAULT_REMOTE = "core.remote"
# id, the git hook it runs in, its pre-commit stage
TOOL_HOOKS = (("mlvc-status", "pre-commit", "pre-commit"), ("mlvc-push", "pre-push", "pre-push"),
              ("mlvc-checkout", "post-checkout", "post-checkout"))
TOOL_INSTALL = "pre-commit install --hook-type pre-commit --hook-type pre-push --hook-type post-checkout"


@dataclass
class InstallResult:
    hooks: list[tuple[str, str]] = field(default_factory=list)  # (hook path, added/updated/unchanged/replaced)
    config: str | None = None  # .pre-commit-config.yaml, when written
    config_changed: bool = False
    merge_driver: bool = False  # the mlvc.lock merge driver was registered
    next_step: str | None = None  # a command the user still has to run


def _git_root(repo: Repo) -> str:
    root = getattr(repo.scm, "git_root", None)
    if root is None:
        raise NotAGitRepoError(f"{repo.root} is not inside a git repository, so there are no git hooks",
                               "run `git init` first")
    return root


def tool_config(entry: str = "mlvc") -> dict:
    """The ``repo: local`` entry of .pre-commit-config.yaml that runs mlvc's three hooks."""
    return {"repo": "local", "hooks": [
        {"id": hook_id, "name": f"mlvc {git_hook}", "entry": f"{entry} git-hook {git_hook}",
         "language": "system", "stages": [stage], "always_run": True, "pass_filenames": False,
         "require_serial": True, **({"verbose": True} if git_hook != "pre-commit" else {})}
        for hook_id, git_hook, stage in TOOL_HOOKS]}


def _add_to_tool_config(git_root: str) -> tuple[str, bool]:
    import yaml

    from mlvc.fs.atomic import atomic_write

    path = os.path.join(git_root, PRE_COMMIT_CONFIG)
    config: dict = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            try:
                config = yaml.safe_load(f) or {}
            except yaml.YAMLError as exc:
                raise ConfigError(f"{PRE_COMMIT_CONFIG} is not valid YAML: {str(exc).splitlines()[0]}",
                                  "fix it, then run `mlvc install --pre-commit-tool` again") from None
        if not isinstance(config, dict) or not isinstance(config.get("repos", []), list):
            raise ConfigError(f"{PRE_COMMIT_CONFIG} has no list of repos", "fix it, then run the command again")
    repos = config.setdefault("repos", [])
    have = {h.get("id") for r in repos if isinstance(r, dict) for h in r.get("hooks") or [] if isinstance(h, dict)}
    if all(hook_id in have for hook_id, _, _ in TOOL_HOOKS):
        return path, False
    if any(hook_id in have for hook_id, _, _ in TOOL_HOOKS):
        raise ConfigError(f"{PRE_COMMIT_CONFIG} has some of mlvc's hooks but not all of them",
                          "remove them, then run `mlvc install --pre-commit-tool` again")
    repos.append(tool_config())
    atomic_write(path, yaml.safe_dump(config, sort_keys=False).encode())
    return path, True


def install(repo: Repo, pre_commit_tool: bool = False, force: bool = False, progress=NULL) -> InstallResult:
    """Write mlvc's git hooks (or add them to .pre-commit-config.yaml) and register the merge
    driver. A hook file that mlvc did not write is refused (nothing is written) without ``force``."""
    git_root = _git_root(repo)
    result = InstallResult()
    if pre_commit_tool:
        result.config, result.config_changed = _add_to_tool_config(git_root)
        result.next_step = TOOL_INSTALL
    else:
        folder = hooks.hooks_dir(git_root)
        rel = os.path.relpath(repo.root, git_root)
        mlvc_dir = "" if rel == "." else rel
        texts = {name: hooks.hook_script(name, sys.executable, mlvc_dir) for name in hooks.HOOKS}
        if not force:
            for name in hooks.HOOKS:
                path = os.path.join(folder, name)
                if os.path.lexists(path) and not hooks.is_ours(path):
                    raise ScmError(f"the git hook {path} exists and was not written by mlvc",
                                   "nothing was written; move it away, or run `mlvc install --force` to replace it")
        for name in hooks.HOOKS:
            result.hooks.append((os.path.join(folder, name), hooks.write_hook(folder, name, texts[name], force)))
    try:
        from mlvc.scm.merge import install_driver
    except ImportError:
        install_driver = None
    if install_driver is not None:
        install_driver(git_root, mlvc_root=repo.root)
        result.merge_driver = True
    return result


# ------------------------------------------------------------------ what the hooks run


@dataclass
class HookResult:
    ok: bool = True
    problems: list[str] = field(default_factory=list)  # lines for the user
    fixes: list[str] = field(default_factory=list)  # the commands that fix them
    checked_out: object = None  # a CheckoutResult
    pushed: object = None  # a TransferResult
    skipped: str | None = None  # why the hook did nothing


def _pre_commit(repo: Repo, progress, stages) -> HookResult:
    from mlvc.ops.status import status

    result = HookResult()
    names = [n for n in (LOCK_FILE, PROJECT_FILE) if os.path.exists(os.path.join(repo.root, n))]
    left = hooks.unstaged(repo.root, names) if names else []
    if left:
        result.problems.append(f"{', '.join(left)} changed but the change is not staged")
        result.fixes.append(f"`git add {' '.join(left)}`")
    report = status(repo, progress=progress, stages=stages)
    for s in report.artifacts:
        if s.clean:
            continue
        result.problems.append(f"{s.path}: {s.status}")
        fix = {"modified": "`mlvc commit` records the workspace (then `git add mlvc.lock`), or "
                            "`mlvc checkout` puts back what mlvc.lock records",
               "not recorded": "`mlvc commit` records it (then `git add mlvc.lock`)",
               "missing": "`mlvc checkout` restores the recorded version",
               "not in cache": "`mlvc pull` fetches the recorded objects (or re-add the data)",
               "not in mlvc.yaml": "`mlvc commit` drops it from mlvc.lock"}.get(s.status, "see `mlvc status`")
        if fix not in result.fixes:
            result.fixes.append(fix)
    for s in report.stages:
        if s.stale:
            result.problems.append(f"stage {s.name}: {s.status}")
            if "`mlvc repro` runs the stale stages" not in result.fixes:
                result.fixes.append("`mlvc repro` runs the stale stages")
    result.ok = not result.problems
    return result


def _post_checkout(repo: Repo, args: list[str], progress) -> HookResult:
    from mlvc.ops.checkout import checkout

    if len(args) >= 3 and args[2] != "1":
        return HookResult(skipped="a checkout of files")
    if hooks.in_rebase(repo.root):
        return HookResult(skipped="a rebase is running")
    if len(args) >= 2 and hooks.same_in(repo.root, args[0], args[1], [LOCK_FILE, PROJECT_FILE]):
        # nothing mlvc records changed (and pre-commit may have stashed an unstaged mlvc.lock)
        return HookResult(skipped="mlvc.lock and mlvc.yaml are the same in both commits")
    return HookResult(checked_out=checkout(repo, progress=progress))


def _pre_push(repo: Repo, shas: list[str] | None, progress) -> HookResult:
    from mlvc.ops.transfer import push

    if not repo.config.get(DEFAULT_REMOTE):
        progress.warn("no default mlvc remote is set, so the data was not pushed "
                      "(`mlvc remote add --default NAME URL` sets one)")
        return HookResult(skipped="no default remote")
    if shas is None:  # not run by git: what the workspace's mlvc.lock records
        return HookResult(pushed=push(repo, progress=progress))
    shas = [s for s in shas if s.strip("0")]  # a deleted ref sends no data
    if not shas:
        return HookResult(skipped="nothing to push")
    return HookResult(pushed=push(repo, revs=sorted(set(shas)), progress=progress))


def git_hook(repo: Repo, name: str, args: list[str] | None = None, shas: list[str] | None = None, progress=NULL,
             stages=None) -> HookResult:
    """Run git hook ``name`` with git's ``args`` (``shas``: the local commits a push sends;
    None when not known: the workspace's mlvc.lock).
    ``stages`` is the pipeline's stage status, passed by ``mlvc.api`` as to ``status``."""
    if name == "pre-commit":
        return _pre_commit(repo, progress, stages)
    if name == "post-checkout":
        return _post_checkout(repo, list(args or []), progress)
    if name == "pre-push":
        return _pre_push(repo, None if shas is None else list(shas), progress)
    from mlvc.errors import UsageError

    raise UsageError(f"no git hook named {name!r}", f"one of: {', '.join(hooks.HOOKS)}")
