"""``certbot-cleanenv migrate``: on files real Certbot wrote, then a real renew uses them."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from certbot_cleanenv import migrate
from tests.fixtures import faults
from tests.fixtures.certbot import Certbot
from tests.fixtures.nginx import NginxSite, recorded_calls, recording_ctl

MakeSite = Callable[..., NginxSite]

STOCK_CONF = textwrap.dedent("""\
    # renew_before_expiry = 30 days
    version = 5.8.0
    archive_dir = /etc/letsencrypt/archive/example.com
    cert = /etc/letsencrypt/live/example.com/cert.pem

    # Options used in the renewal process
    [renewalparams]
    account = 0123abcd
    authenticator = nginx
    installer = nginx
    server = https://acme-v02.api.letsencrypt.org/directory
    key_type = ecdsa
    nginx_server_root = /opt/nginx/conf
    nginx_sleep_seconds = 2
    """)


#: The console script's ``migrate``, as a user runs it.
MIGRATE = [sys.executable, "-m", "certbot_cleanenv", "migrate"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MIGRATE, *args],
                          capture_output=True, text=True, timeout=60, check=False, env=env)


def buffered_env() -> dict[str, str]:
    """This environment without ``PYTHONUNBUFFERED``: stdout block-buffered, as from cron."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}


# --- the text transformation (pure) ---------------------------------------------------

def test_plan_switches_plugins_and_options_only() -> None:
    new, reason = migrate.plan(STOCK_CONF)
    assert reason == ""
    assert new == STOCK_CONF.replace("authenticator = nginx", "authenticator = cleanenv-nginx") \
        .replace("installer = nginx", "installer = cleanenv-nginx") \
        .replace("nginx_server_root", "cleanenv_nginx_server_root") \
        .replace("nginx_sleep_seconds", "cleanenv_nginx_sleep_seconds")
    assert migrate.plan(new, revert=True) == (STOCK_CONF, "")
    assert migrate.plan(new) == (new, "")  # already done: unchanged


@pytest.mark.parametrize(("text", "reason"), [
    (STOCK_CONF.replace("authenticator = nginx", "authenticator = webroot"), "other plugins"),
    (STOCK_CONF.replace("installer = nginx", "installer = apache"), "other plugins"),
    (STOCK_CONF + "cleanenv_nginx_ctl = /x\n", "already has cleanenv_nginx_ctl next to nginx"),
    ("[renewalparams\nauthenticator = nginx\n", "does not parse"),
    ("version = 1\n", "does not parse"),
])
def test_plan_refuses_with_reason(text: str, reason: str) -> None:
    new, why = migrate.plan(text)
    assert new == ""
    assert reason in why


def test_revert_keeps_our_own_options_and_migrate_takes_them_back() -> None:
    """The stock plugin has no timeout or env options: renamed nginx_*, Certbot would store
    them back as strings our parser then refuses. They stay ours, unused until migrated."""
    ours, _ = migrate.plan(STOCK_CONF)
    ours += "cleanenv_nginx_drop_env = FOO_*,\ncleanenv_nginx_timeout = 30\n"
    stock, reason = migrate.plan(ours, revert=True)
    assert reason == ""
    assert "\nnginx_server_root = /opt/nginx/conf" in stock
    assert "cleanenv_nginx_drop_env = FOO_*," in stock
    assert "cleanenv_nginx_timeout = 30" in stock
    assert "\nnginx_timeout" not in stock
    assert "\nnginx_drop_env" not in stock
    assert migrate.plan(stock) == (ours, "")


def test_plan_leaves_other_sections_and_lookalikes() -> None:
    text = STOCK_CONF.replace("[renewalparams]", "[other]\nnginx_x = 1\n[renewalparams]") + \
        "webroot_nginx_path = /x\n"
    new, _ = migrate.plan(text)
    assert "[other]\nnginx_x = 1" in new
    assert "webroot_nginx_path = /x" in new


def test_interrupted_write_leaves_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "example.com.conf"
    path.write_text(STOCK_CONF)
    path.chmod(0o640)

    def crash(src: str, dst: str) -> None:
        raise KeyboardInterrupt  # killed between writing the new file and renaming it

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        migrate.write_atomically(path, "new")
    assert path.read_text() == STOCK_CONF
    assert sorted(p.name for p in tmp_path.iterdir()) == ["example.com.conf"]


def test_atomic_write_keeps_mode_and_owner(tmp_path: Path) -> None:
    path = tmp_path / "example.com.conf"
    path.write_text(STOCK_CONF)
    path.chmod(0o600)
    os.chown(path, 1234, 5678)
    migrate.write_atomically(path, "new\n")
    stat = path.stat()
    assert (stat.st_mode & 0o777, stat.st_uid, stat.st_gid) == (0o600, 1234, 5678)
    assert path.read_text() == "new\n"


# --- the command on real Certbot's files ----------------------------------------------

@pytest.mark.e2e
def test_migrate_real_lineages_then_renew_uses_cleanenv(
        certbot: Certbot, site_factory: MakeSite, nginx_bin: str, tmp_path: Path) -> None:
    site = site_factory(http_port=certbot.pebble.http_port)
    site.start()
    ctl, log = recording_ctl(tmp_path, nginx_bin)
    env = {**site.base_env(), "HOME": str(tmp_path)}
    first = certbot.issue(site, env, "nginx", "--nginx-ctl", str(ctl),
                          "--nginx-sleep-seconds", "2")  # stock guesses; give a busy host room
    assert first.returncode == 0, first.stderr
    renewal = certbot.state / "config" / "renewal"
    # a second lineage with no stock option beyond the server root
    other = renewal / "other.example.test.conf"
    other.write_text((renewal / f"{site.domain}.conf").read_text()
                     .replace(f"nginx_ctl = {ctl}\n", "").replace("nginx_sleep_seconds = 2\n", ""))
    foreign = renewal / "foreign.example.test.conf"
    foreign.write_text(other.read_text().replace("authenticator = nginx",
                                                 "authenticator = webroot"))
    (renewal / "broken.example.test.conf").write_bytes(b"[renewalparams]\nauthenticator = \xff\n")
    originals = {p.name: p.read_bytes() for p in renewal.iterdir()}
    config_dir = str(certbot.state / "config")

    dry = cli("--all", "--dry-run", "--config-dir", config_dir)
    assert dry.returncode == 1  # the foreign and broken ones are skipped
    assert "+authenticator = cleanenv-nginx" in dry.stdout
    assert {p.name: p.read_bytes() for p in renewal.iterdir()} == originals

    done = cli("--all", "--config-dir", config_dir)
    assert done.returncode == 1, done.stderr
    assert f"{site.domain}.conf: migrated" in done.stdout
    assert "other.example.test.conf: migrated" in done.stdout
    assert "foreign.example.test.conf: skipped: uses other plugins" in done.stdout
    assert "broken.example.test.conf: skipped: unreadable" in done.stdout
    assert foreign.read_bytes() == originals[foreign.name]
    params = certbot.renewal_params(site.domain)
    assert (params["authenticator"], params["installer"]) == ("cleanenv-nginx", "cleanenv-nginx")
    assert params["cleanenv_nginx_ctl"] == str(ctl)
    assert not [k for k in params if k.startswith("nginx_")]
    assert (renewal / f"{site.domain}.conf{migrate.BACKUP_SUFFIX}").read_bytes() == \
        originals[f"{site.domain}.conf"]

    log.unlink()
    dirty = {**env, "SNAP": "/snap/certbot/1", "OPENSSL_MODULES": "/snap/certbot/1/x",
             "CERTBOT_SNAPPED_LIKE": "1"}
    renewed = certbot.run("renew", "--force-renewal", "--no-random-sleep-on-renew",
                          "--no-verify-ssl", "--cert-name", site.domain, env=dirty)
    assert renewed.returncode == 0, renewed.stderr
    calls = recorded_calls(log)
    assert calls
    assert all(not {"SNAP", "OPENSSL_MODULES", "CERTBOT_SNAPPED_LIKE"} & set(c.env)
               for c in calls)

    reverted = cli("--cert-name", site.domain, "--cert-name", "other.example.test", "--revert",
                   "--config-dir", config_dir)
    assert reverted.returncode == 0, reverted.stdout
    assert (renewal / f"{site.domain}.conf").read_bytes() == originals[f"{site.domain}.conf"]
    assert other.read_bytes() == originals[other.name]


def test_revert_then_migrate_round_trip_with_our_options(
        certbot: Certbot, site_factory: MakeSite, tmp_path: Path) -> None:
    """Issued with options only cleanenv-nginx has; reverted, renewed by stock, migrated
    again: every renewal works (a fresh-user review found the second one refused)."""
    site = site_factory(http_port=certbot.pebble.http_port)
    site.start()
    env = {**site.base_env(), "HOME": str(tmp_path)}
    issued = certbot.issue(site, env, "cleanenv-nginx", "--cleanenv-nginx-drop-env", "FOO_*",
                           "--cleanenv-nginx-timeout", "30")
    assert issued.returncode == 0, issued.stderr
    config_dir = str(certbot.state / "config")
    for args in (["--revert"], []):
        switched = cli("--cert-name", site.domain, *args, "--config-dir", config_dir)
        assert switched.returncode == 0, switched.stdout + switched.stderr
        params = certbot.renewal_params(site.domain)
        assert not {"nginx_drop_env", "nginx_timeout"} & set(params)
        stock_room = ["--nginx-sleep-seconds", "2"] if args else []  # reverted: stock guesses
        renewed = certbot.renew(env, "--cert-name", site.domain, *stock_room)
        assert renewed.returncode == 0, renewed.stderr
    params = certbot.renewal_params(site.domain)
    assert params["installer"] == "cleanenv-nginx"


def test_refuses_while_certbot_holds_the_lock(tmp_path: Path) -> None:
    (tmp_path / "renewal").mkdir()
    (tmp_path / "renewal" / "example.com.conf").write_text(STOCK_CONF)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from certbot import util; "
         f"util.lock_dir_until_exit({str(tmp_path)!r}); print('locked', flush=True); "
         "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"
        result = cli("--all", "--config-dir", str(tmp_path))
    finally:
        holder.kill()
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    assert result.returncode == 4
    assert "another Certbot or migrate is running" in result.stderr
    assert (tmp_path / "renewal" / "example.com.conf").read_text() == STOCK_CONF


def test_missing_names_and_directory(tmp_path: Path) -> None:
    assert cli("--all", "--config-dir", str(tmp_path)).returncode == 4
    (tmp_path / "renewal").mkdir()
    result = cli("--cert-name", "nope", "--config-dir", str(tmp_path))
    assert result.returncode == 1
    assert "nope.conf: skipped: no such renewal configuration" in result.stdout
    assert cli("--config-dir", str(tmp_path)).returncode == 64


@pytest.mark.parametrize("name", ["", "../../etc/x", "a/b", "..", "."])
def test_cert_names_that_are_paths_are_usage_errors(tmp_path: Path, name: str) -> None:
    (tmp_path / "renewal").mkdir()
    result = cli("--cert-name", name, "--config-dir", str(tmp_path))
    assert result.returncode == 64
    assert f"invalid certificate name {name!r}" in result.stderr
    assert "Traceback" not in result.stderr


def test_symlinked_file_is_migrated_where_it_lives(tmp_path: Path) -> None:
    """The link stays a link; the file it names is switched and backed up beside it."""
    (tmp_path / "renewal").mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    real = shared / "example.com.conf"
    real.write_text(STOCK_CONF)
    link = tmp_path / "renewal" / "example.com.conf"
    link.symlink_to(real)
    result = cli("--cert-name", "example.com", "--config-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert "authenticator = cleanenv-nginx" in real.read_text()
    assert (shared / "example.com.conf.pre-cleanenv").read_text() == STOCK_CONF
    assert not (tmp_path / "renewal" / "example.com.conf.pre-cleanenv").exists()


def test_backup_keeps_mode_and_owner(tmp_path: Path) -> None:
    path = tmp_path / "example.com.conf"
    path.write_text(STOCK_CONF)
    path.chmod(0o640)
    os.chown(path, 1234, 5678)
    assert migrate.migrate_file(path).action == "migrated"
    backup = (tmp_path / "example.com.conf.pre-cleanenv").stat()
    assert (backup.st_mode & 0o777, backup.st_uid, backup.st_gid) == (0o640, 1234, 5678)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a read-only bind mount")
def test_unwritable_file_is_skipped_and_the_rest_go_on(tmp_path: Path) -> None:
    """A read-only place (here a bind mount; as a user, a directory's mode) costs one file."""
    renewal = tmp_path / "renewal"
    renewal.mkdir()
    (renewal / "a.example.conf").write_text(STOCK_CONF)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "b.example.conf").write_text(STOCK_CONF)
    (renewal / "b.example.conf").symlink_to(shared / "b.example.conf")
    argv = faults.in_private_mounts(
        f'mount --bind "{shared}" "{shared}"\nmount -o remount,ro,bind "{shared}" "{shared}"')(
        [*MIGRATE, "--all", "--config-dir", str(tmp_path)])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == f"{renewal / 'a.example.conf'}: migrated"
    assert lines[1].startswith(f"{renewal / 'b.example.conf'}: skipped: could not write "
                               "(Read-only file system)")
    assert "left as it was" in lines[1]
    assert (shared / "b.example.conf").read_text() == STOCK_CONF
    assert os.listdir(shared) == ["b.example.conf"]  # no backup, no temporary file
    assert "authenticator = cleanenv-nginx" in (renewal / "a.example.conf").read_text()


def test_output_into_a_closed_pipe_stops_quietly(tmp_path: Path) -> None:
    """``migrate --all | head -1``: the reader leaving ends the run, quietly, between files.

    Here the reader has gone before the first line. Without ``PYTHONUNBUFFERED`` (as from
    cron) stdout is block-buffered: the broken pipe must still stop the run at the next
    file, not surface at the interpreter's exit (status 120) after every file changed.
    """
    (tmp_path / "renewal").mkdir()
    names = [f"{n}.example.conf" for n in range(3)]
    for name in names:
        (tmp_path / "renewal" / name).write_text(STOCK_CONF)
    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(
            [*MIGRATE, "--all", "--config-dir", str(tmp_path)], stdout=write,
            stderr=subprocess.PIPE, text=True, timeout=60, check=False, env=buffered_env())
    finally:
        os.close(write)
    assert (result.returncode, result.stderr) == (141, "")  # 128 + SIGPIPE, as cat's
    texts = [(tmp_path / "renewal" / name).read_text() for name in names]
    assert "authenticator = cleanenv-nginx" in texts[0]  # done before its line was lost
    assert texts[1:] == [STOCK_CONF, STOCK_CONF]


def test_output_into_a_full_disk_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "renewal").mkdir()
    (tmp_path / "renewal" / "a.example.conf").write_text(STOCK_CONF)
    with open("/dev/full", "w") as full:
        result = subprocess.run(
            [*MIGRATE, "--all", "--dry-run", "--config-dir", str(tmp_path)], stdout=full,
            stderr=subprocess.PIPE, text=True, timeout=60, check=False, env=buffered_env())
    assert result.returncode == 4
    assert result.stderr == "certbot-cleanenv: [Errno 28] No space left on device\n"


def test_closed_stdout_is_no_traceback(tmp_path: Path) -> None:
    """Started with stdout closed (``>&-``, some cron set-ups): the work is done, status 0."""
    (tmp_path / "renewal").mkdir()
    (tmp_path / "renewal" / "a.example.conf").write_text(STOCK_CONF)
    shell = (shlex.join([*MIGRATE, "--all", "--config-dir", str(tmp_path)])
             + ' >&-; echo "status $?" >&2')
    result = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.stderr == "status 0\n"
    assert "authenticator = cleanenv-nginx" in (tmp_path / "renewal" / "a.example.conf").read_text()
