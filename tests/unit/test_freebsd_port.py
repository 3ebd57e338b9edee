"""The FreeBSD port (freebsd-port/www/icapfilter/) stays in step with the source tree.

No FreeBSD here: these read the port's files, compare them with setup.cfg,
the package version and squid.conf.example, and run the rc.d script under
sh with a stub rc.subr to see what it would hand to rc.subr and daemon(8).
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import icapfilter

ROOT = Path(__file__).resolve().parents[2]
PORT = ROOT / "freebsd-port" / "www" / "icapfilter"
RC_SCRIPT = PORT / "files" / "icapfilter.in"
NEWSYSLOG = PORT / "files" / "icapfilter.newsyslog.conf.sample"

# Where each Python dependency lives in the ports tree (docs/freebsd.md).
ORIGINS = {
    "pyicap": "net/py-pyicap",
    "redis": "databases/py-redis",
    "hiredis": "databases/py-hiredis",
    "xxhash": "devel/py-xxhash",
    "pyahocorasick": "textproc/py-pyahocorasick",
    "html5lib": "www/py-html5lib",
    "idna": "dns/py-idna",
    "google-re2": "devel/py-google-re2",
    "click": "devel/py-click",
    "brotli": "archivers/py-brotli",
    "zstandard": "archivers/py-zstandard",
}

SQUID_DIRECTIVES = ("icap_enable", "icap_service", "adaptation_access", "acl",
                    "request_header_access")


def makefile_vars(path: Path) -> dict[str, str]:
    """VAR= assignments of a ports Makefile, continuations joined, comments cut."""
    text = re.sub(r"\\\n", " ", path.read_text())
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Z_][A-Z0-9_]*)\s*([+?:]?=)(.*)$", line)
        if match:
            name, op, value = match.groups()
            value = value.split("#", 1)[0].strip()
            values[name] = f"{values[name]} {value}".strip() if op == "+=" else value
    return values


def port_version(version: str) -> str:
    """PORTVERSION as bsd.port.mk derives it from DISTVERSION (1.0b1 -> 1.0.b1)."""
    v = version.lower()
    v = re.sub(r"([a-z])[a-z]+", r"\1", v)
    v = re.sub(r"([0-9])([a-z])", r"\1.\2", v)
    v = re.sub(r":(.)", r"\1", v)
    return re.sub(r"[^a-z0-9+]+", ".", v)


def install_requires() -> list[tuple[str, list[str], str, str]]:
    """(name, extras, operator, version) for each install_requires entry."""
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    entries = []
    for line in cfg["options"]["install_requires"].strip().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.match(
            r"^([A-Za-z0-9_.-]+)\s*(?:\[([^\]]*)\])?\s*(?:(==|>=|~=|>)\s*([^,;\s]+))?\s*$", line)
        assert match, f"cannot read install_requires entry {line!r}"
        name, extras, op, version = match.groups()
        extras_list = [e.strip() for e in (extras or "").split(",") if e.strip()]
        entries.append((normalize(name), [normalize(e) for e in extras_list],
                        op or "", version or ""))
    return entries


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def run_depends() -> dict[str, tuple[str, str, str]]:
    """{name: (operator, version, origin)} from RUN_DEPENDS."""
    deps = {}
    for item in makefile_vars(PORT / "Makefile")["RUN_DEPENDS"].split():
        match = re.match(
            r"^\$\{PYTHON_PKGNAMEPREFIX\}([A-Za-z0-9_.-]+?)(>=|>|=)([^:]+):"
            r"([a-z0-9-]+/[A-Za-z0-9_.+-]+)@\$\{PY_FLAVOR\}$", item)
        assert match, f"RUN_DEPENDS entry not in the usual form: {item}"
        name, op, version, origin = match.groups()
        assert normalize(name) not in deps, f"{name} twice in RUN_DEPENDS"
        deps[normalize(name)] = (op, version, origin)
    return deps


def test_every_install_requires_entry_has_a_run_depends_line():
    deps = run_depends()
    wanted = set()
    for name, extras, _op, version in install_requires():
        wanted.add(name)
        assert name in deps, f"{name} (setup.cfg install_requires) missing from RUN_DEPENDS"
        dep_op, dep_version, origin = deps[name]
        if name in ORIGINS:
            assert origin == ORIGINS[name], f"{name}: port {origin}, expected {ORIGINS[name]}"
        assert origin.split("/")[1] == f"py-{name}", origin
        if version:
            # The port asks for at least the version setup.cfg asks for.
            expected = (">=", port_version(version))
            assert (dep_op, dep_version) == expected, (name, dep_op, dep_version)
        else:
            assert (dep_op, dep_version) == (">", "0"), name
        for extra in extras:
            wanted.add(extra)
            assert extra in deps, f"{name}[{extra}]: {extra} missing from RUN_DEPENDS"
            assert deps[extra][2].split("/")[1] == f"py-{extra}", deps[extra]
    assert set(deps) == wanted, f"RUN_DEPENDS not in setup.cfg: {sorted(set(deps) - wanted)}"


def test_port_version_follows_bsd_port_mk():
    assert port_version("1.0b1") == "1.0.b1"
    assert port_version("4.5") == "4.5"
    assert port_version("2.0rc2") == "2.0.r2"


def test_makefile_conventions_and_version():
    v = makefile_vars(PORT / "Makefile")
    assert v["PORTNAME"] == "icapfilter"
    assert v["DISTVERSION"] == icapfilter.__version__
    assert v["CATEGORIES"].split()[0] == "www"
    assert v["USES"].split(":")[0] == "python"
    # an application, not a library: no "concurrent" (one Python version at a time)
    assert set(v["USE_PYTHON"].split()) == {"autoplist", "pep517"}
    assert v["MASTER_SITES"] == "PYPI"
    assert v["WWW"].startswith("https://")
    build = v["BUILD_DEPENDS"]
    assert "setuptools>0:devel/py-setuptools@${PY_FLAVOR}" in build
    assert "wheel>0:devel/py-wheel@${PY_FLAVOR}" in build
    assert v["NO_ARCH"] == "yes"
    assert v["USE_RC_SUBR"] == "icapfilter"
    assert v["USERS"] == v["GROUPS"] == "icapfilter"
    for key in ("USERS", "GROUPS", "PYTHON_CMD"):
        assert f'{key}="${{{key}}}"' in v["SUB_LIST"], key


def test_files_the_port_installs_from_the_source_tree_exist():
    makefile = (PORT / "Makefile").read_text()
    sources = re.findall(r"\$\{WRKSRC\}/(\S+)", makefile)
    assert "icapfilter.conf.sample" in sources and "squid.conf.example" in sources
    for name in sources:
        assert (ROOT / name).is_file(), name
    for name in re.findall(r"\$\{FILESDIR\}/(\S+)", makefile):
        assert (PORT / "files" / name).is_file(), name
    assert "${STAGEDIR}${PREFIX}/etc/icapfilter.conf.sample" in makefile


def test_pkg_plist_samples_and_log_dir():
    lines = (PORT / "pkg-plist").read_text().splitlines()
    assert "@sample etc/icapfilter.conf.sample" in lines
    assert "@sample etc/newsyslog.conf.d/icapfilter.conf.sample" in lines
    assert "@dir(icapfilter,icapfilter,0755) /var/log/icapfilter" in lines
    assert "%%PORTEXAMPLES%%%%EXAMPLESDIR%%/squid.conf.example" in lines
    # The newsyslog.conf.d glob of /etc/newsyslog.conf only takes *.conf:
    # the sample is inert until @sample copies it to icapfilter.conf.
    makefile = (PORT / "Makefile").read_text()
    assert "${STAGEDIR}${PREFIX}/etc/newsyslog.conf.d/icapfilter.conf.sample" in makefile


def squid_lines(text: str) -> list[str]:
    """The ICAP directives of a squid.conf text, comments and spacing removed."""
    found = []
    for line in text.splitlines():
        line = " ".join(line.split("#", 1)[0].split())
        if line.split(" ", 1)[0] in SQUID_DIRECTIVES:
            found.append(line)
    return found


def pkg_message_text() -> str:
    text = (PORT / "pkg-message").read_text()
    assert text.lstrip().startswith("[") and text.rstrip().endswith("]")
    assert re.search(r"type:\s*install", text)
    match = re.search(r"message:\s*<<EOM\n(.*?)\nEOM\n", text, re.S)
    assert match, "pkg-message: no message: <<EOM ... EOM block"
    return match.group(1)


@pytest.mark.parametrize("where", ["pkg-message", "docs/freebsd.md"])
def test_squid_lines_match_squid_conf_example(where):
    example = squid_lines((ROOT / "squid.conf.example").read_text())
    assert [line for line in example if line.startswith("icap_service")], "no icap_service"
    text = pkg_message_text() if where == "pkg-message" else (ROOT / where).read_text()
    shown = squid_lines(text)
    assert sorted(shown) == sorted(example)


def test_pkg_message_says_how_to_enable():
    assert "sysrc icapfilter_enable=YES" in pkg_message_text()


def substituted_rc_script(tmp_path: Path, stub: str) -> Path:
    text = RC_SCRIPT.read_text()
    assert ". /etc/rc.subr\n" in text
    stub_path = tmp_path / "rc.subr"
    stub_path.write_text(stub)
    for key, value in {"PREFIX": "/usr/local", "USERS": "icapfilter", "GROUPS": "icapfilter",
                       "PYTHON_CMD": "/usr/local/bin/python3.11"}.items():
        text = text.replace(f"%%{key}%%", value)
    assert "%%" not in text, "unknown %%PLACEHOLDER%% in the rc.d script"
    script = tmp_path / "icapfilter"
    script.write_text(text.replace(". /etc/rc.subr\n", f". {stub_path}\n"))
    return script


def test_rc_script_syntax(tmp_path):
    subprocess.run(["sh", "-n", str(RC_SCRIPT)], check=True)
    script = substituted_rc_script(tmp_path, ":\n")
    subprocess.run(["sh", "-n", str(script)], check=True)
    if shutil.which("bash"):
        subprocess.run(["bash", "--posix", "-n", str(script)], check=True)


# What rc.subr would see: the variables at run_rc_command time; for
# "reload" the pid looked up and the signal sent (kill is a function here).
STUB_RC_SUBR = r"""
load_rc_config() { :; }
check_pidfile() { echo "check_pidfile $*" >&2; echo 4242; }
wait_for_pids() { echo "wait_for_pids $*" >&2; }
kill() { echo "kill $*" >&2; }
su() { echo "su $*" >&2; }
run_rc_command() {
    for v in name rcvar pidfile procname command command_args required_files \
             extra_commands start_precmd reload_cmd configtest_cmd \
             icapfilter_user icapfilter_flags icapfilter_child_pidfile; do
        eval "printf '%s=%s\n' $v \"\${$v}\""
    done
    case "$1" in
    reload) eval "$reload_cmd" ;;
    configtest) eval "$configtest_cmd" ;;
    esac
}
"""


def run_rc(tmp_path: Path, arg: str, **env: str) -> tuple[dict[str, str], str]:
    script = substituted_rc_script(tmp_path, STUB_RC_SUBR)
    result = subprocess.run(["sh", str(script), arg], capture_output=True, text=True,
                            env={"PATH": "/usr/bin:/bin", **env}, check=True)
    values = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return values, result.stderr


def test_rc_script_hands_rc_subr_a_supervised_daemon(tmp_path):
    v, _ = run_rc(tmp_path, "status", icapfilter_flags="--workers 4")
    assert v["name"] == "icapfilter" and v["rcvar"] == "icapfilter_enable"
    assert v["command"] == "/usr/sbin/daemon"
    assert v["required_files"] == "/usr/local/etc/icapfilter.conf"
    assert set(v["extra_commands"].split()) == {"reload", "configtest"}
    args = v["command_args"].split()
    # -P: rc.subr's pidfile is the supervisor's, so stop ends the supervision;
    # procname stays unset (= command): that pid is daemon(8)'s.
    assert args[args.index("-P") + 1] == v["pidfile"]
    assert v["procname"] == ""
    assert args[args.index("-p") + 1] == v["icapfilter_child_pidfile"] != v["pidfile"]
    assert {"-r", "-H"} <= set(args)
    assert args[args.index("-u") + 1] == "icapfilter"
    assert args[args.index("-o") + 1] == "/var/log/icapfilter/daemon.log"
    serve = args.index("/usr/local/bin/icapfilter")
    assert args[serve:] == ["/usr/local/bin/icapfilter", "serve", "--config",
                            "/usr/local/etc/icapfilter.conf", "--workers", "4"]
    # Left set, rc.subr would su(1) to the user before daemon(8) (so -u fails)
    # and put the flags among daemon(8)'s options.
    assert v["icapfilter_user"] == "" and v["icapfilter_flags"] == ""


def test_rc_script_reload_signals_icapfilter_not_the_supervisor(tmp_path):
    v, err = run_rc(tmp_path, "reload")
    assert (f"check_pidfile {v['icapfilter_child_pidfile']} /usr/local/bin/icapfilter "
            "/usr/local/bin/python3.11") in err
    assert "kill -HUP 4242" in err


def test_rc_script_configtest_runs_config_check_as_the_user(tmp_path):
    _, err = run_rc(tmp_path, "configtest", icapfilter_config="/tmp/x.conf")
    assert "su -m icapfilter -c /usr/local/bin/icapfilter config check /tmp/x.conf" in err


def test_newsyslog_signals_the_right_processes(tmp_path):
    v, _ = run_rc(tmp_path, "status")
    entries = {}
    for line in NEWSYSLOG.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            fields = line.split()
            entries[fields[0]] = fields
    daemon_log = entries["/var/log/icapfilter/daemon.log"]
    assert daemon_log[-2:] == [v["pidfile"], "SIGHUP"]  # daemon(8) -H reopens it
    logs = entries["/var/log/icapfilter/*.log"]
    assert "G" in logs[6]
    assert logs[-2:] == [v["icapfilter_child_pidfile"], "SIGUSR1"]
    for fields in entries.values():
        assert fields[1] == "icapfilter:icapfilter"


BMAKE = shutil.which("bmake")


@pytest.mark.skipif(BMAKE is None, reason="bmake is not installed (scripts/test installs it)")
def test_bmake_parses_the_port_makefile_with_the_ports_framework_stubbed(tmp_path):
    """bmake reads the Makefile as the ports tree would; bsd.port.mk is a stand-in."""
    (tmp_path / "sys.mk").write_text("")
    (tmp_path / "bsd.port.mk").write_text(
        "PYTHON_PKGNAMEPREFIX?=py311-\nPY_FLAVOR?=py311\nPYTHON_CMD?=/usr/local/bin/python3.11\n"
        "PREFIX?=/usr/local\nWRKSRC?=/wrk/icapfilter-${DISTVERSION}\nall:\n")
    done = subprocess.run(
        [BMAKE, "-m", str(tmp_path), "-f", str(PORT / "Makefile"),
         *(arg for var in ("PORTNAME", "DISTVERSION", "RUN_DEPENDS", "USES", "USE_RC_SUBR",
                           "LICENSE_FILE", "MASTER_SITES", "WWW", "USE_PYTHON")
           for arg in ("-V", "${" + var + "}"))],
        capture_output=True, text=True, cwd=PORT, timeout=30)
    assert done.returncode == 0, done.stderr
    (name, version, run_depends, uses, rc, license_file, sites, www,
     use_python) = done.stdout.splitlines()
    assert (name, version) == ("icapfilter", icapfilter.__version__)
    assert "py311-pyicap>=1.0.b1:net/py-pyicap@py311" in run_depends.split()
    assert uses == "python:3.11+" and rc == "icapfilter"
    assert license_file == f"/wrk/icapfilter-{icapfilter.__version__}/LICENSE"
    assert sites == "PYPI" and www == "https://pypi.org/project/icapfilter/"
    assert "concurrent" not in use_python.split()


def test_rc_script_starts_before_squid():
    header = RC_SCRIPT.read_text().split(". /etc/rc.subr", 1)[0]
    assert re.search(r"^# BEFORE: .*\bsquid\b", header, re.M)
    assert re.search(r"^# REQUIRE: LOGIN$", header, re.M)


DISTINFO_SCRIPT = ROOT / "scripts" / "freebsd-distinfo"


def distinfo_lines(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        match = re.match(r"^(TIMESTAMP|SHA256 \((\S+)\)|SIZE \((\S+)\)) = (\S+)$", line)
        assert match, f"not a distinfo line: {line!r}"
        found[match.group(1).split(" ")[0]] = match.group(4)
        if match.group(2) or match.group(3):
            found["file"] = match.group(2) or match.group(3)
    return found


def test_distinfo_names_the_sdist_of_this_version_with_sha256_and_size():
    values = distinfo_lines((PORT / "distinfo").read_text())
    assert values["file"] == f"icapfilter-{icapfilter.__version__}.tar.gz"
    assert re.fullmatch(r"[0-9a-f]{64}", values["SHA256"])
    assert int(values["SIZE"]) > 10_000 and int(values["TIMESTAMP"]) > 1_600_000_000


def test_distinfo_script_writes_the_checksum_and_size_of_the_file_it_is_given(tmp_path):
    import hashlib

    sdist = tmp_path / "icapfilter-9.9.tar.gz"
    sdist.write_bytes(b"not really a tarball" * 100)
    out = tmp_path / "distinfo"
    subprocess.run([sys.executable, str(DISTINFO_SCRIPT), "--sdist", str(sdist), "--out",
                    str(out)], check=True, capture_output=True, timeout=60)
    values = distinfo_lines(out.read_text())
    assert values["file"] == sdist.name
    assert values["SHA256"] == hashlib.sha256(sdist.read_bytes()).hexdigest()
    assert values["SIZE"] == "2000"


@pytest.mark.slow
def test_distinfo_script_builds_the_same_sdist_twice_with_the_sample_files(tmp_path):
    import tarfile

    runs = []
    for name in ("a", "b"):
        out = tmp_path / name
        subprocess.run([sys.executable, str(DISTINFO_SCRIPT), "--out", str(out)], check=True,
                       capture_output=True, timeout=300, cwd=ROOT)
        runs.append(out.read_text())
    assert runs[0] == runs[1]  # reproducible: anyone can check the distinfo of a commit
    sdist = ROOT / "dist" / f"icapfilter-{icapfilter.__version__}.tar.gz"
    names = tarfile.open(sdist).getnames()
    top = f"icapfilter-{icapfilter.__version__}"
    for needed in ("icapfilter.conf.sample", "squid.conf.example", "LICENSE", "setup.cfg"):
        assert f"{top}/{needed}" in names, needed
