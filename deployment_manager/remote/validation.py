"""Validation of every value that ends up in a remote command line.

Commands are always argv lists joined with ``shlex.join``, so quoting alone
already prevents shell injection. These checks are a second, independent
layer: they stop values that would be *interpreted* by the called program in a
surprising way (an option-looking ``-rf``, a ``..`` escaping a directory, a
newline splitting a log line) and they give the administrator an early, clear
error instead of a confusing remote failure.
"""

import contextlib
import ipaddress
import posixpath
import re
import shlex
import urllib.parse

from .errors import InvalidInput
from .masking import MASK

_MODULE_RE = re.compile(r"[a-z0-9_]+")
_DATABASE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_PATH_CHARS_RE = re.compile(r"[A-Za-z0-9._/@+=,:~-]+")
_SERVICE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@:-]{0,127}")
_USERNAME_RE = re.compile(r"[a-z_][a-z0-9_.-]{0,31}")
_DNS_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _require_str(value, field):
    if not isinstance(value, str):
        raise InvalidInput(field, value, "a text value is required")
    if not value:
        raise InvalidInput(field, value, "it must not be empty")
    return value


def _match(regex, value, field, why):
    _require_str(value, field)
    # fullmatch, not match with "$": "$" also accepts a trailing newline.
    if not regex.fullmatch(value):
        raise InvalidInput(field, value, why)
    return value


def validate_module_name(name, field="module name"):
    _match(
        _MODULE_RE,
        name,
        field,
        "only lowercase letters, digits and underscores are allowed",
    )
    if len(name) > 128:
        raise InvalidInput(field, name, "it is longer than 128 characters")
    return name


def validate_database_name(name, field="database name"):
    return _match(
        _DATABASE_RE,
        name,
        field,
        "use 1 to 63 letters, digits, '_', '.' or '-', starting with a letter or digit",
    )


def validate_path(path, field="path"):
    _require_str(path, field)
    if not path.startswith("/"):
        raise InvalidInput(field, path, "an absolute path is required")
    if len(path) > 4096:
        raise InvalidInput(field, path, "it is longer than 4096 characters")
    # POSIX normpath keeps a leading "//", so that case needs its own check.
    if posixpath.normpath(path) != path or "//" in path:
        raise InvalidInput(
            field,
            path,
            "it must be normalised (no '..', '.', '//' or trailing '/')",
        )
    if not _PATH_CHARS_RE.fullmatch(path):
        raise InvalidInput(
            field,
            path,
            "only letters, digits and . _ / @ + = , : ~ - are allowed",
        )
    if any(part.startswith("-") for part in path.split("/")):
        raise InvalidInput(field, path, "no path component may start with '-'")
    return path


def validate_service_name(name, field="service name"):
    return _match(
        _SERVICE_RE,
        name,
        field,
        "use letters, digits, '_', '.', '@', ':' or '-', starting with a "
        "letter or digit",
    )


def validate_hostname(host, field="hostname"):
    _require_str(host, field)
    if host.startswith("-"):
        raise InvalidInput(field, host, "it must not start with '-'")
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return host
    name = host.removesuffix(".")
    if len(name) > 253 or not all(
        _DNS_LABEL_RE.fullmatch(label) for label in name.split(".")
    ):
        raise InvalidInput(field, host, "it is neither a DNS name nor an IP address")
    return host


def validate_username(user, field="username"):
    return _match(
        _USERNAME_RE,
        user,
        field,
        "use up to 32 lowercase letters, digits, '_', '.' or '-', starting "
        "with a letter or '_'",
    )


def validate_port(port, field="port"):
    if isinstance(port, bool) or not isinstance(port, int):
        raise InvalidInput(field, port, "an integer is required")
    if not 1 <= port <= 65535:
        raise InvalidInput(field, port, "it must be between 1 and 65535")
    return port


def validate_argv(argv, field="command"):
    if not isinstance(argv, (list, tuple)) or not argv:
        raise InvalidInput(field, argv, "a non-empty list of arguments is required")
    for arg in argv:
        if not isinstance(arg, str):
            raise InvalidInput(field, argv, "every argument must be text")
        if "\0" in arg:
            raise InvalidInput(field, argv, "an argument contains a NUL byte")
    if not argv[0]:
        raise InvalidInput(field, argv, "the program name is empty")
    return list(argv)


def validate_env(env, field="environment"):
    """Check variables that are exported on the remote side line by line."""
    if env is None:
        return {}
    if not isinstance(env, dict):
        raise InvalidInput(field, type(env).__name__, "a dict is required")
    for name, value in env.items():
        if not isinstance(name, str) or not _ENV_NAME_RE.fullmatch(name):
            raise InvalidInput(field, name, "not a valid variable name")
        # Values are secrets by default: the message shows a mask, never
        # the value itself.
        if not isinstance(value, str):
            raise InvalidInput(
                f"{field} variable {name}",
                MASK,
                f"text required, not {type(value).__name__}",
            )
        if "\n" in value or "\0" in value:
            raise InvalidInput(
                f"{field} variable {name}",
                MASK,
                "values may not contain newlines or NUL bytes",
            )
    return dict(env)


def split_command(text, field="command"):
    _require_str(text, field)
    if "\0" in text:
        raise InvalidInput(field, text, "it contains a NUL byte")
    if "\n" in text or "\r" in text:
        raise InvalidInput(field, text, "it must fit on a single line")
    try:
        argv = shlex.split(text)
    except ValueError as exc:
        raise InvalidInput(field, text, str(exc)) from None
    if not argv:
        raise InvalidInput(field, text, "it contains no command")
    return argv


# Git repository URLs. The same shapes as the deployment has always taken;
# the remote layer keeps its own copy so the wizard can check a URL before
# any operation exists.
_GIT_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)")
_GIT_SCP_RE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9._-]*@[A-Za-z0-9][A-Za-z0-9.-]*:[A-Za-z0-9._~+][A-Za-z0-9._~+/-]*"
)
_GIT_PATH_RE = re.compile(r"[A-Za-z0-9._~+%@:/-]*")
# Over ssh the part before "@" is the login the key is for (git@host): a
# name, not a credential. Over https it is a token or a user name with a
# password.
_GIT_SSH_SCHEMES = ("ssh", "git+ssh", "ssh+git")
GIT_CREDENTIALS_ADVICE = (
    "it holds credentials, which would be stored with the operation and "
    "shown in its journal: use an SSH URL (git@host:org/repo.git) with a "
    "deploy key in the ~/.ssh of the host's user, or a git credential helper "
    "on the host"
)


def git_url_credentials(url):
    """True when a git URL carries credentials: ``https://TOKEN@host/…``,
    ``https://user:password@host/…``, ``ssh://user:password@host/…`` or
    ``user:password@host:path``. A login alone over ssh (``git@host:org/
    repo.git``, ``ssh://git@host/…``) is not one."""
    if not isinstance(url, str):
        return False
    match = _GIT_SCHEME_RE.match(url)
    if match is not None:
        scheme, authority = match.group(1).lower(), match.group(2)
        if "@" not in authority:
            return False
        login = authority.rsplit("@", 1)[0]
        return scheme not in _GIT_SSH_SCHEMES or ":" in login
    head = url.split("/", 1)[0]
    return "@" in head and ":" in head.rsplit("@", 1)[0]


def _redacted_git_url(url):
    """The URL as an error message may show it: what stands before an "@" of
    the host part and any query or fragment masked."""
    match = _GIT_SCHEME_RE.match(url)
    if match is not None and "@" in match.group(2):
        login_end = match.start(2) + match.group(2).rindex("@")
        url = url[: match.start(2)] + MASK + url[login_end:]
    elif match is None and "@" in url.split("/", 1)[0]:
        url = MASK + url[url.split("/", 1)[0].rindex("@") :]
    return re.sub(r"[?#].*", "?" + MASK, url, flags=re.DOTALL)


def validate_git_url(url, field="repository URL"):
    """A git repository URL that may be stored, journaled and given to git.

    Accepted: ``https://host/path``, ``ssh://[login@]host[:port]/path``, the
    scp-like ``login@host:path``, an absolute path and ``file:///path``.
    Refused: credentials in the URL (:func:`git_url_credentials`; the
    message says how to do without), a query or a fragment, a leading '-',
    spaces or control characters, transport helpers (``ext::…``), anything
    else. Error messages show the URL with its credentials masked.
    """
    _require_str(url, field)
    shown = _redacted_git_url(url)
    if git_url_credentials(url):
        raise InvalidInput(field, shown, GIT_CREDENTIALS_ADVICE)
    if url.startswith("-") or any(ord(char) < 33 or char == "\x7f" for char in url):
        raise InvalidInput(
            field,
            shown,
            "it may not start with '-' nor hold spaces or control characters",
        )
    if url.startswith("/"):
        return validate_path(url, field=field)
    if url.startswith("file://"):
        validate_path(url[len("file://") :], field=field)
        return url
    if _GIT_SCP_RE.fullmatch(url):
        return url
    parsed = urllib.parse.urlsplit(url)
    try:
        port_ok = parsed.port is None or parsed.port > 0
    except ValueError:
        port_ok = False
    if (
        parsed.scheme in ("https", "ssh")
        and parsed.hostname
        and port_ok
        and not parsed.query
        and not parsed.fragment
        and _GIT_PATH_RE.fullmatch(parsed.path)
    ):
        validate_hostname(parsed.hostname, field=f"{field} host")
        return url
    raise InvalidInput(
        field,
        shown,
        "use https://host/path, ssh://host/path, login@host:path or an absolute path",
    )
