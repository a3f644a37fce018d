"""Example and public mutation catalogues, like ``scanpy.datasets``.

Two small catalogues ship inside the package (:func:`breast21`, the default example, and
:func:`breast100`). The larger public cohorts are not copied into sigfactor: they are fetched
from where they are published, at a pinned commit, on first use, checked by sha256 and cached
in the platform cache folder (``platformdirs.user_cache_dir("sigfactor")``, or
``$SIGFACTOR_CACHE``).

A local mirror folder stands in for the network: ``SIGFACTOR_DATA=<folder>`` or
:func:`set_mirror`. A file is looked up there by its published name first, then under the
sub-folder of the project's shared data (``catalogues/``, ``synthetic/<name>/sp.sp/``); mirror
files are checked by sha256 too. With ``SIGFACTOR_OFFLINE=1`` nothing is downloaded, and a file
found neither in the mirror nor in the cache is an error.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from ._bundled import bundled_path
from ._validation import check_choice
from .catalogue import Catalogue, read_catalogue
from .reference import read_signatures

_GEL = "https://raw.githubusercontent.com/annalisapaladino/AEMutSignExtraction/b8df1b614b016d08855d01495e881b8400e61fbc"
_PCAWG7 = "https://raw.githubusercontent.com/steverozen/PCAWG7/9f3f811"
_SYNSIGGEN = "https://raw.githubusercontent.com/steverozen/SynSigGen/a5e55f6"

SYNTHETIC = ("syn.2.7a.7b.abst", "syn.3.5.40.abst")
"""SynSigGen ground-truth sets available through :func:`synthetic`."""


@dataclass(frozen=True)
class _Remote:
    """One published file: cache name, URL, sha256 and where a mirror may hold it."""

    fname: str
    url: str
    sha256: str
    mirror: tuple[str, ...]


def _synthetic_file(name: str, what: str, sha256: str) -> _Remote:
    relative = f"{name}/sp.sp/ground.truth.syn.{what}.csv"
    return _Remote(
        fname=f"{name}.sp.sp.ground.truth.syn.{what}.csv",
        url=f"{_SYNSIGGEN}/data-raw/long.test.regression.data/{relative}",
        sha256=sha256,
        mirror=(f"synthetic/{relative}", relative),
    )


_REGISTRY: dict[str, _Remote] = {
    "gel_ovary": _Remote(
        "catalogues_Ovary_SBS.tsv", f"{_GEL}/data/catalogues_Ovary_SBS.tsv",
        "0c762ba804e51a9843b5ca78537bbbc678d75461f1b41400c51fa50edca17949",
        ("catalogues_Ovary_SBS.tsv", "catalogues/GEL_Ovary_SBS96.tsv"),
    ),
    "pcawg_wgs": _Remote(
        "WGS_PCAWG.96.csv", f"{_PCAWG7}/data-raw/spectra/WGS_PCAWG.96.csv",
        "906ad6aa8f319b65d5b1d77fa7ecf4278fb99a93abcb8f9101e08573ac205362",
        ("WGS_PCAWG.96.csv", "catalogues/WGS_PCAWG.96.csv"),
    ),
    "tcga_wes": _Remote(
        "WES_TCGA.96.csv", f"{_PCAWG7}/data-raw/spectra/WES_TCGA.96.csv",
        "cacd9b3caa7dc2eeda3e2ad30891843464da989b7383418fe46f77d3bab41c1e",
        ("WES_TCGA.96.csv", "catalogues/WES_TCGA.96.csv"),
    ),
    **{f"{n}/{w}": _synthetic_file(n, w, h) for n, w, h in (
        ("syn.2.7a.7b.abst", "catalog", "312f979da05928d93e2c955afb2b538dbf64ccb9f21291ff9c9b246f5ac7487b"),
        ("syn.2.7a.7b.abst", "sigs", "bb907fc777c443dee8004e88d290e01213777d04f71bdbbb7adbdf778dfbffc1"),
        ("syn.2.7a.7b.abst", "exposures", "08cee721b459ddc8617e4f633e4408eaae83e1b51278db83d8008fa760af390a"),
        ("syn.3.5.40.abst", "catalog", "d6da692b85fc0d734d80f720bf7428df91e27a3c0904753918f0a7ad4c652dbf"),
        ("syn.3.5.40.abst", "sigs", "c0db307823338514f10d299250f85fd117ae5b8ad483fbb9b92ea48e64f9e833"),
        ("syn.3.5.40.abst", "exposures", "74a3a5671018b337928469900489c37e045be80476d89fea333165c63dca2643"),
    )},
}

_mirror: Path | None = None


def set_mirror(path) -> None:
    """Use a local folder instead of the network (``None`` goes back to ``$SIGFACTOR_DATA``).

    Parameters
    ----------
    path : str, os.PathLike or None
        Folder holding the published files by name, or the project's shared data layout
        (``catalogues/``, ``synthetic/<name>/sp.sp/``).
    """
    global _mirror
    if path is None:
        _mirror = None
        return
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path={path!r} is not valid; expected a folder path or None.")
    folder = Path(path)
    if not folder.is_dir():
        raise ValueError(f"path='{folder}' is not a folder; expected the folder of a data mirror.")
    _mirror = folder


def mirror() -> Path | None:
    """Return the mirror folder in use: :func:`set_mirror`'s, else ``$SIGFACTOR_DATA``, else ``None``."""
    if _mirror is not None:
        return _mirror
    env = os.environ.get("SIGFACTOR_DATA")
    return Path(env) if env else None


def cache_dir() -> Path:
    """Return the download cache folder (``$SIGFACTOR_CACHE`` or the platform cache folder)."""
    env = os.environ.get("SIGFACTOR_CACHE")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("sigfactor"))


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _checked(path: Path, entry: _Remote, where: str) -> Path:
    found = _sha256(path)
    if found != entry.sha256:
        raise ValueError(
            f"{where} file '{path}' has sha256 {found}; expected {entry.sha256} (the file published at "
            f"{entry.url}). Replace or remove it."
        )
    return path


def fetch(key: str) -> Path:
    """Return a local path of a registered public file: mirror, then cache, then download.

    Parameters
    ----------
    key : str
        ``"gel_ovary"``, ``"pcawg_wgs"``, ``"tcga_wes"`` or ``"<synthetic name>/<catalog|sigs|exposures>"``.

    Raises
    ------
    ValueError
        If a mirror or cached file does not have the published sha256.
    ConnectionError
        If the file must be downloaded and cannot be (offline, or ``SIGFACTOR_OFFLINE=1``).
    """
    check_choice("key", key, tuple(_REGISTRY))
    entry = _REGISTRY[key]
    folder = mirror()
    if folder is not None:
        for relative in entry.mirror:
            if (folder / relative).is_file():
                return _checked(folder / relative, entry, "mirror")
    cached = cache_dir() / entry.fname
    if cached.is_file():
        return _checked(cached, entry, "cached")
    looked = f"mirror '{folder}' ({', '.join(entry.mirror)})" if folder is not None else "no mirror set"
    if os.environ.get("SIGFACTOR_OFFLINE", "") not in ("", "0"):
        raise ConnectionError(
            f"{entry.fname} is not available offline (SIGFACTOR_OFFLINE is set): {looked}, not in the cache "
            f"'{cache_dir()}'. Put the file in a mirror folder (SIGFACTOR_DATA or sigfactor.datasets.set_mirror) "
            f"or unset SIGFACTOR_OFFLINE to download it from {entry.url}."
        )
    return _download(entry, looked)


def _download(entry: _Remote, looked: str) -> Path:
    import pooch
    import requests

    try:
        path = pooch.retrieve(entry.url, known_hash=f"sha256:{entry.sha256}", fname=entry.fname,
                              path=cache_dir(), progressbar=True)
    except (requests.exceptions.RequestException, OSError) as err:
        raise ConnectionError(
            f"could not download {entry.fname} from {entry.url} ({type(err).__name__}: {err}); are you "
            f"offline? Searched {looked} and the cache '{cache_dir()}'. Set SIGFACTOR_DATA (or call "
            "sigfactor.datasets.set_mirror) to a folder holding the file."
        ) from err
    return Path(path)


# ---- bundled ------------------------------------------------------------------------------

def breast21() -> Catalogue:
    """21 breast cancer genomes, SBS96: sigfactor's default example (bundled).

    Nik-Zainal S. et al. (2012) Mutational processes molding the genomes of 21 breast
    cancers. Cell 149:979-993. File ``data/TextInput/Samples_SBS.txt`` of the SigProfilerExtractor
    1.4.1 wheel (BSD-2-Clause).
    """
    return read_catalogue(bundled_path("catalogues/breast21_SBS96.txt"))


def breast100() -> Catalogue:
    """100 breast cancer genomes, SBS96 (bundled).

    SigProfilerMatrixGenerator's BRCA benchmark matrix (``references/matrix/BRCA_bench/SBS/
    BRCA_bench.SBS96.all`` of the 1.4.0 wheel, BSD-2-Clause).
    """
    return read_catalogue(bundled_path("catalogues/breast100_SBS96.all"))


# ---- public cohorts ------------------------------------------------------------------------

def gel_ovary() -> Catalogue:
    """523 ovarian cancer genomes from Genomics England, SBS96 (fetched on first use).

    The data of the AE-NMF paper (Egendal et al.), from Degasperi A. et al. (2022) Substitution
    mutational signatures in whole-genome-sequenced cancers in the UK population. Science
    376:abl9283 (Genomics England 100,000 Genomes Project; Zenodo record 5571551). Public copy:
    GitHub annalisapaladino/AEMutSignExtraction at commit b8df1b6,
    ``data/catalogues_Ovary_SBS.tsv`` (MutationalPatterns layout, substitution-first order).
    Licence: that repository carries no licence file; the catalogues are Degasperi et al.'s
    published summary data, to be cited as above.
    """
    return read_catalogue(fetch("gel_ovary"))


def pcawg_wgs() -> Catalogue:
    """2,780 PCAWG whole genomes, SBS96 (fetched on first use).

    Alexandrov L.B. et al. (2020) The repertoire of mutational signatures in human cancer.
    Nature 578:94-101 (Synapse syn11801889). File ``data-raw/spectra/WGS_PCAWG.96.csv`` of
    GitHub steverozen/PCAWG7 at commit 9f3f811 (GPL-3), two label columns.
    """
    return read_catalogue(fetch("pcawg_wgs"))


def tcga_wes() -> Catalogue:
    """9,493 TCGA exomes, SBS96 (fetched on first use).

    Alexandrov L.B. et al. (2020) Nature 578:94-101. File ``data-raw/spectra/WES_TCGA.96.csv``
    of GitHub steverozen/PCAWG7 at commit 9f3f811 (GPL-3), two label columns.
    """
    return read_catalogue(fetch("tcga_wes"))


class SyntheticData(NamedTuple):
    """A synthetic catalogue with the signatures and exposures it was made from."""

    catalogue: Catalogue
    signatures: pd.DataFrame
    """Channels x k, canonical labels."""
    exposures: pd.DataFrame
    """Samples x k, in the catalogue's sample order."""


def synthetic(name: str) -> SyntheticData:
    """A SynSigGen ground-truth set: noiseless catalogue, signatures and exposures.

    Alexandrov L.B. et al. (2020) Nature 578:94-101, synthetic data sets made with SynSigGen
    (GitHub steverozen/SynSigGen at commit a5e55f6,
    ``data-raw/long.test.regression.data/<name>/sp.sp/``, GPL-3): SigProfiler-style signatures.

    Parameters
    ----------
    name : {"syn.2.7a.7b.abst", "syn.3.5.40.abst"}

    Returns
    -------
    SyntheticData
        ``catalogue`` (Catalogue), ``signatures`` (channels x k DataFrame), ``exposures``
        (samples x k DataFrame), matched by sample and signature name.
    """
    check_choice("name", name, SYNTHETIC)
    catalogue = read_catalogue(fetch(f"{name}/catalog"))
    signatures = read_signatures(fetch(f"{name}/sigs"))
    path = fetch(f"{name}/exposures")
    exposures = pd.read_csv(path, index_col=0).T
    exposures.index = exposures.index.astype(str)
    missing = catalogue.samples.difference(exposures.index)
    unknown = pd.Index(signatures.columns).symmetric_difference(exposures.columns)
    if len(missing) or len(unknown):
        raise ValueError(
            f"file '{path}': exposures do not match the catalogue and signatures (samples missing: "
            f"{list(missing[:5])}, signatures not in both: {list(unknown)})."
        )
    exposures = exposures.loc[catalogue.samples, signatures.columns]
    return SyntheticData(catalogue, signatures, exposures)
