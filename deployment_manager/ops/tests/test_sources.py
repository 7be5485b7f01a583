"""Where new sources may come from and go to, checked before anything is
uploaded, cloned or extracted: git URLs without credentials, and only the
environment's own addons paths. The production is the plain one of
``conftest.py`` (a database in the local cluster, a configuration file
without addons_path), over the local transport and SSH.
"""

import dataclasses
import os

import pytest

from ...remote import InvalidInput
from ...remote.validation import git_url_credentials, validate_git_url
from .. import sources
from ..context import OperationFailed, SimpleContext
from .production import make_git_repo, make_zip, sample

TOKEN = "ghp_0123456789abcdefTOKEN"

CREDENTIAL_URLS = [
    f"https://{TOKEN}@github.com/org/repo.git",
    f"https://oauth2:{TOKEN}@gitlab.example.com/org/repo.git",
    f"https://user:{TOKEN}@example.com/repo.git",
    f"ssh://git:{TOKEN}@example.com/org/repo.git",
    f"git:{TOKEN}@example.com:org/repo.git",
]


@pytest.mark.parametrize("url", CREDENTIAL_URLS)
def test_credentials_in_a_git_url_are_refused(url):
    """A token or a password in a git URL is refused by the validator the
    wizard calls and by the deployment, with how to do without, and the
    message never shows it."""
    assert git_url_credentials(url)
    with pytest.raises(InvalidInput) as invalid:
        validate_git_url(url)
    assert TOKEN not in str(invalid.value)
    assert "deploy key" in str(invalid.value)

    with pytest.raises(OperationFailed) as failed:
        sources.validate_repo_url(SimpleContext(), url)
    message = str(failed.value)
    assert TOKEN not in message
    assert "deploy key" in message and "git@host:org/repo.git" in message
    assert "credential helper" in message


def test_git_urls_without_credentials_pass():
    """Logins over SSH, plain https, local repositories pass; a query (where
    a token could hide too) is refused without being shown."""
    for url in (
        "https://github.com/OCA/server-tools.git",
        "ssh://git@example.com:2222/odoo/custom.git",
        "git@github.com:OCA/server-tools.git",
        "/srv/git/custom",
        "file:///srv/git/custom",
    ):
        assert not git_url_credentials(url)
        assert validate_git_url(url) == url
    for url in (
        "-uhttps://example.com/repo.git",
        "ext::sh -c touch% /tmp/pwned",
        "relative/path",
        "http://example.com/repo.git",
        "https://example.com:99999/repo.git",
    ):
        with pytest.raises(InvalidInput):
            validate_git_url(url)
    with pytest.raises(InvalidInput) as invalid:
        validate_git_url(f"https://example.com/repo.git?private_token={TOKEN}")
    assert TOKEN not in str(invalid.value)


def test_a_token_url_is_never_cloned_nor_journaled(production, local, tmp_path):
    """deploy_git with a token in the URL runs no command at all: the token
    never reaches a command line, and the addons path is not created."""
    target = str(tmp_path / "checkout")
    spec = dataclasses.replace(production.spec, addons_paths=[target])
    ctx = SimpleContext(str(tmp_path / "runs"))

    with pytest.raises(OperationFailed, match="deploy key"):
        sources.deploy_git(ctx, local, spec, CREDENTIAL_URLS[0], "main", target)

    assert ctx.commands == []
    assert not os.path.exists(target)


@pytest.fixture
def release_zip(tmp_path):
    return make_zip(tmp_path / "good.zip", [sample("v1", "dm_sample_good")])


def test_zip_goes_only_to_an_addons_path_of_the_environment(
    production, ssh, release_zip, tmp_path
):
    """A zip meant for a directory that is not one of the environment's
    addons paths is refused before anything is uploaded or extracted, even
    when the configuration names no addons_path; into one of them it goes."""
    elsewhere = str(tmp_path / "elsewhere")
    os.makedirs(elsewhere)
    ctx = SimpleContext(str(tmp_path / "runs"))

    with pytest.raises(OperationFailed) as refused:
        sources.deploy_zip(ctx, ssh, production.spec, release_zip, elsewhere)

    assert "is not one of the addons paths" in str(refused.value)
    assert production.addons in str(refused.value)
    assert ctx.commands == []
    assert os.listdir(elsewhere) == []

    deployed = sources.deploy_zip(
        ctx, ssh, production.spec, release_zip, production.addons
    )
    assert deployed["modules"] == ["dm_sample_good"]
    assert os.path.isdir(os.path.join(production.addons, "dm_sample_good"))
    sources.undeploy(ctx, ssh, production.spec, deployed)


def test_an_environment_without_addons_paths_takes_no_sources(
    production, local, release_zip, tmp_path
):
    """An environment with no addons path of its own takes no zip and no
    git checkout: refused before any command, the target left as it was."""
    spec = dataclasses.replace(production.spec, addons_paths=[])
    repo = make_git_repo(tmp_path / "repo", [("v1", [sample("v1", "dm_sample_good")])])
    target = str(tmp_path / "checkout")
    ctx = SimpleContext(str(tmp_path / "runs"))
    before = sorted(os.listdir(production.addons))

    with pytest.raises(OperationFailed, match="no addons path of its own"):
        sources.deploy_zip(ctx, local, spec, release_zip, production.addons)
    with pytest.raises(OperationFailed, match="no addons path of its own"):
        sources.deploy_git(ctx, local, spec, repo, "v1", target)
    with pytest.raises(OperationFailed, match="no addons path of its own"):
        sources.check_addons(
            ctx, local, spec, production.addons, target_path=production.addons
        )

    assert ctx.commands == []
    assert sorted(os.listdir(production.addons)) == before
    assert not os.path.exists(target)
