"""Build script for pushi's C extension, pushi._core.

Native libraries come from the operating system (see scripts/bootstrap):
libuv, jansson, OpenSSL's libcrypto, SQLite and mongo-c-driver (libmongoc and
libbson) through pkg-config; wslay has no .pc file and is linked with -lwslay;
llhttp is compiled from the system's generated sources (Debian's node-llhttp
puts them in /usr/share/llhttp) unless pkg-config knows a system libllhttp.
No third-party source lives in this repository.

Environment switches:
  PUSHI_DEBUG=1      -O0 -g3, assertions on
  PUSHI_SANITIZE=1   AddressSanitizer + UndefinedBehaviorSanitizer
"""

from __future__ import annotations

import glob
import os
import shlex
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

LLHTTP_SOURCES = "/usr/share/llhttp"
LLHTTP_INCLUDE = "/usr/share/include/llhttp"
PKG_MODULES = ["libuv", "jansson", "libssl", "libcrypto", "sqlite3", "libmongoc-1.0"]


def pkg_config(*args: str) -> list[str]:
    try:
        out = subprocess.run(["pkg-config", *args], check=True, capture_output=True, text=True)
    except FileNotFoundError:
        sys.exit("pushi: pkg-config is missing; run scripts/bootstrap first")
    except subprocess.CalledProcessError as exc:
        sys.exit(f"pushi: pkg-config {' '.join(args)} failed: {exc.stderr.strip()}\n"
                 "Run scripts/bootstrap to install the system libraries.")
    return shlex.split(out.stdout)


def has_pkg(name: str) -> bool:
    try:
        return subprocess.run(["pkg-config", "--exists", name]).returncode == 0
    except FileNotFoundError:
        return False


def llhttp_flags() -> tuple[list[str], list[str], list[str]]:
    """(sources, include dirs, link args) for llhttp."""
    if has_pkg("libllhttp"):
        return [], [], pkg_config("--cflags", "--libs", "libllhttp")
    sources = [os.path.join(LLHTTP_SOURCES, f) for f in ("llhttp.c", "api.c", "http.c")]
    missing = [s for s in sources if not os.path.exists(s)]
    if missing:
        sys.exit(f"pushi: llhttp sources not found ({', '.join(missing)}); "
                 "install Debian's node-llhttp (scripts/bootstrap)")
    return sources, [LLHTTP_INCLUDE], []


class BuildExt(build_ext):
    """Compiles the system's llhttp sources on their own (they are generated
    code, not ours: no warning flags, no sanitizers) and links the objects
    into the extension. setuptools rejects absolute paths among an
    Extension's sources, hence extra_objects."""

    def build_extension(self, ext: Extension) -> None:
        ll_sources, ll_include, _ = llhttp_flags()
        if ll_sources:
            objects = self.compiler.compile(
                ll_sources,
                output_dir=os.path.join(self.build_temp, "llhttp"),
                include_dirs=ll_include,
                extra_postargs=["-O2", "-w", "-fPIC"],
            )
            ext.extra_objects = list(ext.extra_objects or []) + objects
        super().build_extension(ext)


def extension() -> Extension:
    cflags = pkg_config("--cflags", *PKG_MODULES)
    libs = pkg_config("--libs", *PKG_MODULES) + ["-lwslay"]
    _, ll_include, ll_libs = llhttp_flags()
    compile_args = ["-std=c11", "-Wall", "-Wextra", "-D_GNU_SOURCE", "-fvisibility=hidden"]
    link_args: list[str] = []
    if os.environ.get("PUSHI_DEBUG"):
        compile_args += ["-O0", "-g3"]
    else:
        compile_args += ["-O2"]
    if os.environ.get("PUSHI_SANITIZE"):
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
               "-fno-sanitize-recover=undefined"]
        compile_args += san + ["-g"]
        link_args += san
    sources = sorted(glob.glob("csrc/*.c")) + sorted(glob.glob("csrc/py/*.c"))
    return Extension(
        "pushi._core",
        sources=sources,
        include_dirs=["csrc", *ll_include],
        extra_compile_args=compile_args + cflags,
        extra_link_args=link_args + libs + ll_libs,
    )


setup(ext_modules=[extension()], cmdclass={"build_ext": BuildExt})
