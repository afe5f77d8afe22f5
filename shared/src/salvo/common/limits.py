"""Process limits a role needs, raised where allowed, refused clearly where not."""

from __future__ import annotations

import resource

from salvo.common.errors import ConfigError


class TooFewOpenFiles(ConfigError):
    """The container's open-file limit is below what the configured fleet needs.

    Raise it (ECS task definition `ulimits` nofile, `docker run --ulimit nofile=N:N`,
    Kubernetes: the node's container runtime default) or lower the named variable.
    """


def ensure_open_files(needed: int, variable: str) -> int:
    """Raise the soft RLIMIT_NOFILE to `needed` (up to the hard limit); TooFewOpenFiles if the hard limit is lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return soft
    if hard != resource.RLIM_INFINITY and hard < needed:
        raise TooFewOpenFiles(
            f"{variable} needs {needed} open files but this container allows {hard} (ulimit -Hn): "
            f"raise the nofile ulimit or lower {variable}"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    return needed
