"""setuptools hooks for the plughost wheel: platform tag, bundled install tree, .pth file."""

import os
import warnings

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py as _build_py
from wheel.bdist_wheel import bdist_wheel as _bdist_wheel

# _root/bin and _root/lib are folders of files, not Python packages; setuptools 66 warns about
# every package_data folder whose name could be imported.
warnings.filterwarnings("ignore", message=r"\s*Installing '.*' as data is deprecated")

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = "plughost_lmcache"
PTH = "plughost_lmcache.pth"


def _root_files():
    # Everything scripts/build-wheel.sh staged under _root/ (bin/plughost, lib/, share/), listed
    # one by one: setuptools 66 has no recursive package_data globs.
    package_dir = os.path.join(HERE, PACKAGE)
    found = []
    for folder, _, files in os.walk(os.path.join(package_dir, "_root")):
        for name in files:
            found.append(os.path.relpath(os.path.join(folder, name), package_dir))
    return sorted(found)


class BinaryDistribution(Distribution):
    """Platform-specific even without C extensions: files go to platlib, at the wheel's root."""

    def has_ext_modules(self):
        return True


class bdist_wheel(_bdist_wheel):
    """py3-none-<platform>: any Python 3, but only where the bundled executable runs."""

    def finalize_options(self):
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):
        return "py3", "none", os.environ.get("PLUGHOST_WHEEL_PLAT", "linux_x86_64")


class build_py(_build_py):
    """Also puts plughost_lmcache.pth at the top of the build, so it lands in site-packages."""

    def run(self):
        super().run()
        self.copy_file(os.path.join(HERE, PTH), os.path.join(self.build_lib, PTH))

    def get_outputs(self, include_bytecode=1):
        return super().get_outputs(include_bytecode) + [os.path.join(self.build_lib, PTH)]


setup(
    packages=[PACKAGE],
    zip_safe=False,
    package_data={PACKAGE: _root_files()},
    cmdclass={"bdist_wheel": bdist_wheel, "build_py": build_py},
    distclass=BinaryDistribution,
)
