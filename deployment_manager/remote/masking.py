"""Masking of secrets in anything that may reach a log or the journal."""

import shlex

MASK = "********"


def _normalise(secrets):
    if secrets is None:
        return []
    if isinstance(secrets, str):
        secrets = [secrets]
    # Longest first, so a secret that contains another is masked whole.
    return sorted(
        {str(s) for s in secrets if s is not None and str(s)},
        key=len,
        reverse=True,
    )


def mask(text, secrets):
    if not text:
        return text
    for secret in _normalise(secrets):
        text = text.replace(secret, MASK)
    return text


def display_argv(argv, secrets):
    return mask(shlex.join(argv), secrets)
