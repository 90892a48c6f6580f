"""The command line as a new user meets it: per-system flags, usage errors, one-line errors, Ctrl-C."""

import json
import subprocess
import sys

import pytest

from hncf import cli
from hncf.cli import main


def _usage_error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    return capsys.readouterr().err


def test_reproduce_help_lists_every_system_with_one_line(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "--help"])
    out = capsys.readouterr().out
    for name in cli.REPRODUCE:
        assert name in out


def test_each_system_shows_only_its_own_flags(capsys):
    with pytest.raises(SystemExit):
        main(["reproduce", "ncf", "--help"])
    ncf_help = capsys.readouterr().out
    assert "--protocols" in ncf_help and "--seed" in ncf_help and "--posters" not in ncf_help
    with pytest.raises(SystemExit):
        main(["reproduce", "hncf", "--help"])
    hncf_help = capsys.readouterr().out
    assert "--posters" in hncf_help and "--protocols" not in hncf_help


@pytest.mark.parametrize("argv, message", [
    (["reproduce", "ncf", "--posters", "x"], "unrecognized arguments: --posters"),
    (["reproduce", "hncf", "--protocols", "chrono"], "unrecognized arguments: --protocols"),
    (["reproduce", "ncf", "--epochs", "0"], "must be >= 1, got 0"),
    (["reproduce", "ncf", "--epochs", "-1"], "must be >= 1, got -1"),
    (["reproduce", "hncf", "--learning-rate", "0"], "must be a finite number > 0, got '0'"),
    (["reproduce", "hncf", "--learning-rate", "-1"], "must be a finite number > 0, got '-1'"),
    *[([*cmd, "--learning-rate", v], f"must be a finite number > 0, got '{v}'")
      for cmd in (["reproduce", "hncf"], ["reproduce", "query"]) for v in ("inf", "nan", "1e999")],
    (["reproduce", "ncf", "--preset", "huge"], "invalid choice: 'huge'"),
    (["reproduce", "ncf", "--dataset", "ml-5m"], "invalid choice: 'ml-5m'"),
])
def test_bad_flags_are_usage_errors_before_any_work(argv, message, capsys, tmp_path):
    assert message in _usage_error([*argv, "--out", str(tmp_path / "o")], capsys)
    assert not (tmp_path / "o").exists()


def test_an_out_that_is_a_file_or_cannot_be_made_is_one_line(capsys, tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    for out in (f, f / "below"):
        assert main(["reproduce", "ncf", "--out", str(out), "--quiet"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"hncf: error: --out {out}")


def test_a_failed_run_leaves_no_empty_out_folder(capsys, tmp_path):
    out = tmp_path / "never"
    assert main(["reproduce", "ncf", "--data-dir", str(tmp_path / "missing"), "--out", str(out), "--quiet"]) == 1
    assert "missing" in capsys.readouterr().err and not out.exists()


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys, tmp_path):
    from hncf.commands import ncf

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(ncf, "run_from_args", interrupted)
    assert main(["reproduce", "ncf", "--out", str(tmp_path), "--quiet"]) == 130
    assert capsys.readouterr().err.strip() == "hncf: interrupted; continue with --resume"


def test_a_failed_download_says_what_to_do(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HNCF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HNCF_DATA_DIR", raising=False)
    from hncf.data import download

    def offline(url, *a, **k):
        raise download.DownloadError(f"could not download {url}: [Errno -2] Name or service not known")

    monkeypatch.setattr(download, "fetch", offline)
    import hncf.data.movielens as ml

    monkeypatch.setattr(ml, "fetch", offline, raising=False)
    assert main(["reproduce", "ncf", "--out", str(tmp_path / "o"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "could not download" in err and "--data-dir DIR" in err and "HNCF_DATA_DIR" in err


def test_datasets_lists_every_release_and_finds_a_local_copy(capsys, synthetic_release):
    d = synthetic_release("ml-100k")
    assert main(["datasets", "--data-dir", str(d)]) == 0
    out = capsys.readouterr().out
    assert "ml-25m" in out and "ml-latest-small" in out and str(d) in out


def test_datasets_counts_a_folder_only_when_it_holds_that_release_s_own_files(capsys, synthetic_release, tmp_path,
                                                                               monkeypatch):
    monkeypatch.setenv("HNCF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HNCF_DATA_DIR", raising=False)
    parent = synthetic_release("ml-100k").parent  # a folder of releases, as ../shared/data is
    (parent / "ml-1m").mkdir()
    (parent / "ml-1m" / "ratings.dat").write_text("1::1::5::978300760\n")  # movies.dat is missing
    assert main(["datasets", "--data-dir", str(parent)]) == 0
    present = {line.split()[0]: line.split(None, 1)[1] for line in capsys.readouterr().out.splitlines()
               if not line.startswith(" ")}
    assert present["ml-100k"] == str(parent / "ml-100k")
    for name in ("ml-1m", "ml-20m", "ml-25m", "ml-latest-small"):
        assert present[name].startswith("no (downloaded on first use)"), (name, present[name])
    assert f"{parent / 'ml-1m'} lacks movies.dat" in present["ml-1m"]


def test_python_m_hncf_prints_no_tensorflow_chatter(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "hncf", "reproduce", "ncf", "--data-dir", str(tmp_path / "none"),
                           "--out", str(tmp_path / "o"), "--quiet"], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("hncf: error:"), proc.stderr
    json.dumps(lines)
