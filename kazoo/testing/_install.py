"""Finding a ZooKeeper installation and a ``java`` to run it with.

Order of precedence:

1. ``ZOOKEEPER_CLASSPATH`` (or the ``classpath`` argument): used as given.
2. ``ZOOKEEPER_PATH`` (or the ``install_path`` argument): a release layout
   (``lib/*.jar`` plus top-level ``zookeeper-*.jar``) or a flat jar directory
   such as Debian's ``/usr/share/java``.
3. Auto-detection: Debian's ``libzookeeper-java``/``zookeeper`` package, then a
   ``zkServer.sh`` on ``PATH``.

The version comes from ``ZOOKEEPER_VERSION`` when set, else from the jar names
(or the jar manifest).
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass

__all__ = [
    "ZooKeeperInstall",
    "ZooKeeperNotFoundError",
    "find_install",
    "find_java",
    "parse_version",
]

ENV_PATH = "ZOOKEEPER_PATH"
ENV_CLASSPATH = "ZOOKEEPER_CLASSPATH"
ENV_VERSION = "ZOOKEEPER_VERSION"

DEBIAN_JAR_DIR = "/usr/share/java"
DEBIAN_JAR = DEBIAN_JAR_DIR + "/zookeeper.jar"
# Debian's zookeeper.jar manifest leaves these off its Class-Path: the Netty
# connection factory needs the first three, and slf4j-simple gives the server a
# logging backend that writes to a file.
DEBIAN_EXTRA_JARS = (
    "netty-codec.jar",
    "netty-resolver.jar",
    "netty-transport-native-unix-common.jar",
    "slf4j-simple.jar",
)

_JAR_VERSION_RE = re.compile(r"zookeeper-(\d+\.\d+\.\d+)(?:[-.][\w.-]*)?\.jar$")
_SKIP_JAR_RE = re.compile(r"-(sources|javadoc|tests|test-sources)\.jar$")


class ZooKeeperNotFoundError(RuntimeError):
    """No ZooKeeper installation (or no ``java``) could be found."""


@dataclass(frozen=True)
class ZooKeeperInstall:
    """Where the ZooKeeper jars are and which version they are."""

    classpath: str
    version: tuple[int, ...] | None
    source: str  # human-readable: how it was found

    @property
    def version_string(self) -> str:
        return ".".join(map(str, self.version)) if self.version else "unknown"

    def at_least(self, *version: int) -> bool:
        """True when the version is known and >= ``version``, or unknown (assume modern)."""
        return self.version is None or self.version >= version

    @property
    def logging_backend(self) -> str:
        """``"simple"``, ``"logback"``, ``"log4j"`` or ``"none"``, from the classpath."""
        names = " ".join(os.path.basename(p) for p in self.classpath.split(os.pathsep))
        if "slf4j-simple" in names:
            return "simple"
        if "logback-classic" in names:
            return "logback"
        if "slf4j-log4j12" in names or "slf4j-reload4j" in names:
            return "log4j"
        return "none"


def parse_version(text: str) -> tuple[int, ...] | None:
    """``"3.8.0"`` or ``"3.8.0-beta"`` → ``(3, 8, 0)``; None when unparsable."""
    m = re.match(r"\s*(\d+(?:\.\d+)*)", text)
    if not m:
        return None
    return tuple(int(p) for p in m.group(1).split("."))


def _version_from_jars(jars: list[str]) -> tuple[int, ...] | None:
    for jar in jars:
        m = _JAR_VERSION_RE.search(os.path.basename(jar))
        if m:
            return parse_version(m.group(1))
    return None


def _version_from_manifest(jar: str) -> tuple[int, ...] | None:
    try:
        with zipfile.ZipFile(jar) as zf:
            text = zf.read("META-INF/MANIFEST.MF").decode("utf-8", "replace")
    except (OSError, KeyError, zipfile.BadZipFile):
        return None
    m = re.search(r"^(?:Implementation|Bundle|Specification)-Version:\s*(\S+)", text, re.M)
    return parse_version(m.group(1)) if m else None


def _sibling_versioned_jars(directory: str) -> list[str]:
    return sorted(glob.glob(os.path.join(directory, "zookeeper-[0-9]*.jar")))


def _flat_dir(directory: str) -> tuple[list[str], tuple[int, ...] | None] | None:
    """A flat jar directory (Debian-like): zookeeper.jar + the missing extras."""
    main = os.path.join(directory, "zookeeper.jar")
    versioned = [j for j in _sibling_versioned_jars(directory) if not _SKIP_JAR_RE.search(j)]
    if not os.path.isfile(main):
        plain = [j for j in versioned if re.search(r"zookeeper-\d+\.\d+\.\d+\.jar$", j)]
        if not plain:
            return None
        main = plain[0]
    jars = [main]
    for extra in DEBIAN_EXTRA_JARS:
        path = os.path.join(directory, extra)
        if os.path.isfile(path):
            jars.append(path)
    version = _version_from_jars(versioned) or _version_from_manifest(main)
    return jars, version


def _release_layout(path: str) -> tuple[list[str], tuple[int, ...] | None] | None:
    lib = sorted(glob.glob(os.path.join(path, "lib", "*.jar")))
    if not lib:
        return None
    top = [j for j in _sibling_versioned_jars(path) if not _SKIP_JAR_RE.search(j)]
    jars = top + lib
    if not any("zookeeper" in os.path.basename(j) for j in jars):
        return None
    return jars, _version_from_jars(jars)


def _from_path(path: str) -> tuple[list[str], tuple[int, ...] | None] | None:
    return _release_layout(path) or _flat_dir(path)


def _debian_jar() -> str | None:
    for package in ("libzookeeper-java", "zookeeper"):
        try:
            out = subprocess.run(
                ["dpkg", "-L", package],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        for line in out.splitlines():
            if line.endswith("/zookeeper.jar") and os.path.isfile(line):
                return line
    return DEBIAN_JAR if os.path.isfile(DEBIAN_JAR) else None


def _zkserver_home() -> str | None:
    script = shutil.which("zkServer.sh")
    if not script:
        return None
    return os.path.dirname(os.path.dirname(os.path.realpath(script)))


def _not_found(detail: str) -> ZooKeeperNotFoundError:
    return ZooKeeperNotFoundError(
        f"{detail}. Install ZooKeeper (on Debian/Ubuntu: `apt-get install zookeeper`, "
        f"or run `make setup`) or point {ENV_PATH} at a ZooKeeper install directory, "
        f"{ENV_CLASSPATH} at an explicit Java classpath, and optionally {ENV_VERSION} "
        f"at its version (e.g. 3.8.0)."
    )


def find_install(install_path: str | None = None, classpath: str | None = None) -> ZooKeeperInstall:
    """Locate ZooKeeper; arguments win over the environment variables."""
    env_version = os.environ.get(ENV_VERSION) or None
    forced = parse_version(env_version) if env_version else None
    classpath = classpath or os.environ.get(ENV_CLASSPATH) or None
    install_path = install_path or os.environ.get(ENV_PATH) or None

    if classpath:
        jars = classpath.split(os.pathsep)
        version = forced or _version_from_jars(jars)
        return ZooKeeperInstall(classpath, version, f"{ENV_CLASSPATH}/classpath")

    found: tuple[list[str], tuple[int, ...] | None] | None
    if install_path:
        found = _from_path(install_path)
        if found is None:
            raise _not_found(f"No ZooKeeper jars found under {install_path!r}")
        source = f"{install_path} ({ENV_PATH})"
    else:
        source, found = "", None
        jar = _debian_jar()
        if jar:
            found, source = _flat_dir(os.path.dirname(jar)), f"Debian package ({jar})"
        if found is None:
            home = _zkserver_home()
            if home:
                found, source = _from_path(home), f"zkServer.sh in {home}"
        if found is None:
            raise _not_found("No ZooKeeper installation found")
    jars, version = found
    return ZooKeeperInstall(os.pathsep.join(jars), forced or version, source)


def find_java() -> str:
    """Path of the ``java`` executable: ``$JAVA_HOME/bin/java`` or ``java`` on PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        candidate = os.path.join(home, "bin", "java")
        if os.access(candidate, os.X_OK):
            return candidate
    java = shutil.which("java")
    if java is None:
        raise ZooKeeperNotFoundError(
            "No `java` found on PATH (nor in $JAVA_HOME/bin): install a JRE, e.g. "
            "`apt-get install default-jre-headless`, or run `make setup`"
        )
    return java
