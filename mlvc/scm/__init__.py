"""git: reading files at a revision (gitpython, imported lazily), and the plumbing
queries mlvc asks of the work tree (one ``git`` process for many paths), in
``git``; temporary git worktrees (``worktree``: a detached checkout of one commit
in a temp folder, where ``mlvc verify`` runs the stages); the git hooks ``mlvc install``
writes (``hooks``) and the registration of the mlvc.lock merge driver (``merge``).
May import ``errors`` only.
"""

from mlvc.scm.git import Git, NoSCM, git_tracked

__all__ = ["Git", "NoSCM", "git_tracked"]
