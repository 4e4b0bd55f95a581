"""`convpipe remote` and `push` with a kind of DVC remote that cannot be listed (http): not checked, DVC goes ahead."""

import subprocess

from convpipe.cli import main


def test_an_http_remote_is_not_checked_and_dvc_goes_ahead(tmp_path, monkeypatch, capsys):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["dvc", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["dvc", "remote", "add", "-d", "web", "http://127.0.0.1:9/dvc"], cwd=tmp_path, check=True)
    monkeypatch.chdir(tmp_path)
    note = "remote 'web' (http://127.0.0.1:9/dvc): not checked: the check cannot list http remotes; DVC goes ahead"
    assert main(["remote"]) == 0
    assert capsys.readouterr().out.strip() == note
    assert main(["push"]) == 0  # nothing to push, so DVC never connects
    assert capsys.readouterr().err.strip() == note
