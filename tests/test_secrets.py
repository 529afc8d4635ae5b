"""The API key stays secret: never shown, never written; key files are never committed.

The scripts run for real against the fake Batch API with a recognisable key. Afterwards the key
must not appear in anything they printed, in any file of the work dir (request and result files,
the ledger's raw bytes), in any lesson, or in what was uploaded. A rejected key is named only in
the masked form the API itself uses. ``.gitignore`` keeps the key files and the work dir's
generated files out of git. And the key is looked up in the documented order: the environment,
then ``.env``, then ``openaiapikey.txt``.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from lesson_batch.api import BatchApi
from tests.helpers import BUNDLED_TEMPLATE, GENERATE_SCRIPT, PROCESS_SCRIPT, REPO_ROOT, STATUS_SCRIPT, run_script

CANARY_KEY = "sk-test-SECRET-canary-0123456789abcdef"
# Any of these in an output or a file means the key leaked (the masked form "sk-test***cdef" is fine).
LEAK_MARKERS = [CANARY_KEY, "SECRET-canary", "0123456789abcdef"]

CURRICULUM = """\
# Secrets Curriculum

# M0: Keys — Lesson Map
## L001: Keeping Keys Out of Git [F]
Key topics: .gitignore; environment variables.
## L002: Rotating a Leaked Key [I]
## L003: Least Privilege for Service Accounts [A]
"""


def leaks_in(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        return [marker for marker in LEAK_MARKERS if marker.encode() in text]
    return [marker for marker in LEAK_MARKERS if marker in text]


def write_curriculum(folder: Path) -> Path:
    path = folder / "curriculum.md"
    path.write_text(CURRICULUM, encoding="utf-8")
    return path


def test_the_key_is_never_printed_or_written_during_a_whole_workflow(fake_openai, tmp_path):
    # One lesson fails once, so the error paths print too.
    fake_openai.set_scenario({"faults": {"fail_400": ["M0-L002"], "truncate": ["M0-L003"]}})
    work_dir, lessons_dir = tmp_path / "work", tmp_path / "lessons"
    curriculum = write_curriculum(tmp_path)
    env = fake_openai.env(api_key=CANARY_KEY)
    runs = [
        run_script(GENERATE_SCRIPT, "--yes", "--curriculum", curriculum, "--prompt-template", BUNDLED_TEMPLATE,
                   "--output-dir", lessons_dir, "--work-dir", work_dir, "--max-requests-per-batch", 2,
                   env=env, cwd=tmp_path),
        run_script(STATUS_SCRIPT, "--watch", "--interval", "0.01", "--work-dir", work_dir, env=env, cwd=tmp_path),
        run_script(PROCESS_SCRIPT, "--output-dir", lessons_dir, "--work-dir", work_dir, env=env, cwd=tmp_path),
        run_script(STATUS_SCRIPT, "--json", "--lessons", "--work-dir", work_dir, env=env, cwd=tmp_path),
        run_script(PROCESS_SCRIPT, "--json", "--output-dir", lessons_dir, "--work-dir", work_dir,
                   env=env, cwd=tmp_path),
    ]
    assert runs[0].returncode == 0, runs[0].stderr
    assert (lessons_dir / "M0-L001.md").is_file(), "the workflow did not run through"
    assert runs[2].returncode == 1  # two lessons were not saved: the failure paths ran

    for result in runs:
        assert not leaks_in(result.stdout), f"key in the output of {result.args[1:3]}"
        assert not leaks_in(result.stderr), f"key in the errors of {result.args[1:3]}"
    written = [path for path in tmp_path.rglob("*") if path.is_file() and path != curriculum]
    assert any(path.name.startswith("ledger.sqlite3") for path in written)
    assert any(path.suffix == ".jsonl" for path in written)
    for path in written:
        assert not leaks_in(path.read_bytes()), f"key written to {path}"
    for file_id in fake_openai.files:
        assert not leaks_in(fake_openai.file_content(file_id)), f"key uploaded in {file_id}"


@pytest.mark.parametrize("script", ["generate", "status"])
def test_a_rejected_key_is_shown_only_masked(script, fake_openai, tmp_path):
    fake_openai.set_scenario({"valid_api_keys": ["sk-test-the-right-key-0000"]})
    env = fake_openai.env(api_key=CANARY_KEY)
    if script == "generate":
        result = run_script(GENERATE_SCRIPT, "--yes", "--curriculum", write_curriculum(tmp_path),
                            "--output-dir", tmp_path / "lessons", "--work-dir", tmp_path / "work",
                            env=env, cwd=tmp_path)
    else:
        result = run_script(STATUS_SCRIPT, "batch_0123", "--work-dir", tmp_path / "work", env=env, cwd=tmp_path)

    assert result.returncode == 1
    assert "401" in result.stderr and "key" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not leaks_in(result.stdout + result.stderr), result.stderr
    assert not fake_openai.created_batches()


# --------------------------------------------------------------------------- .gitignore


def is_ignored(relative: str) -> bool:
    """What git would do with this path in the repository (read-only: the index is not consulted)."""
    result = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "check-ignore", "--no-index", "-q", relative],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.returncode == 0


needs_git = pytest.mark.skipif(
    shutil.which("git") is None or not (REPO_ROOT / ".git").exists(), reason="needs git and the repository"
)


@needs_git
@pytest.mark.parametrize("relative", [
    ".env",
    "openaiapikey.txt",
    "lesson_batch/.env",
    "batch_api/ledger.sqlite3",
    "batch_api/ledger.sqlite3.lock",
    "batch_api/datagov_lessons_input.jsonl",
    "batch_api/datagov_lessons_input_002.jsonl",
    "batch_api/datagov_lessons_results.jsonl",
    "batch_api/datagov_lessons_errors_batch_abc.jsonl",
    "batch_api/rejected/M0-L001.md",
    "batch_api/replaced/M0-L001.20250101T000000.md",
])
def test_gitignore_keeps_keys_and_generated_work_files_out_of_git(relative):
    assert is_ignored(relative), f"{relative} would be committed"


@needs_git
@pytest.mark.parametrize("relative", [
    "batch_api/README.md",
    "src/data/data_gov/lessons/M0-L001.md",
    "src/data/data_gov/Content Structure.md",
    "prompts/lesson_generation_prompt.md",
])
def test_gitignore_does_not_hide_the_project_s_own_files(relative):
    assert not is_ignored(relative), f"{relative} is ignored"


# --------------------------------------------------------------------------- where the key comes from

KEYS = {
    "environment": "sk-test-from-the-environment-1111",
    ".env": "sk-test-from-the-dotenv-file-2222",
    "openaiapikey.txt": "sk-test-from-the-key-file-3333",
}


@pytest.fixture
def batch_on_server(fake_openai, tmp_path):
    """A batch that exists on the fake server, so a status check with the right key succeeds."""
    fake_openai.set_scenario({"valid_api_keys": list(KEYS.values())})
    api = BatchApi(KEYS["environment"], base_url=fake_openai.base_url, max_retries=0)
    path = tmp_path / "input.jsonl"
    path.write_text(
        '{"custom_id": "M0-L001", "method": "POST", "url": "/v1/chat/completions", '
        '"body": {"model": "gpt-6.1-terra", "messages": [{"role": "user", "content": "hi"}]}}\n',
        encoding="utf-8",
    )
    return api.create_batch(api.upload(path, "lesson_batch-keys.jsonl"), {"lesson_batch_shard": "keys-s001"}).id


def status_with_key_sources(fake_openai, folder: Path, batch_id: str, sources: list[str], expected: str):
    """Run a status check in ``folder`` with the key offered by each of ``sources``, the server
    accepting only the ``expected`` source's key: it succeeds only if that key was the one used."""
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": None}
    if "environment" in sources:
        env["OPENAI_API_KEY"] = KEYS["environment"]
    if ".env" in sources:
        (folder / ".env").write_text(f"# the key\nOPENAI_API_KEY={KEYS['.env']}\n", encoding="utf-8")
    if "openaiapikey.txt" in sources:
        (folder / "openaiapikey.txt").write_text(f"{KEYS['openaiapikey.txt']}\n", encoding="utf-8")
    fake_openai.set_scenario({"valid_api_keys": [KEYS[expected]]})
    return run_script(STATUS_SCRIPT, batch_id, "--work-dir", folder / "work", env=env, cwd=folder)


project_key_files = [REPO_ROOT / ".env", REPO_ROOT / "openaiapikey.txt"]
no_project_key_files = pytest.mark.skipif(
    any(path.exists() for path in project_key_files),
    reason="a key file in the project folder would take part in the lookup",
)


@no_project_key_files
@pytest.mark.parametrize(("sources", "expected"), [
    (["environment", ".env", "openaiapikey.txt"], "environment"),
    ([".env", "openaiapikey.txt"], ".env"),
    (["openaiapikey.txt"], "openaiapikey.txt"),
], ids=["environment-beats-dotenv-and-key-file", "dotenv-beats-key-file", "key-file-alone"])
def test_the_key_is_taken_from_the_environment_then_dotenv_then_the_key_file(
    sources, expected, fake_openai, batch_on_server, tmp_path
):
    folder = tmp_path / "project"
    folder.mkdir()
    result = status_with_key_sources(fake_openai, folder, batch_on_server, sources, expected)
    assert result.returncode == 0, f"the {expected} key was not the one used:\n{result.stderr}"
    assert batch_on_server in result.stdout
    assert not any(key in result.stdout + result.stderr for key in KEYS.values()), "a key was printed"


@no_project_key_files
def test_a_key_in_a_lower_priority_place_is_not_used_when_a_higher_one_exists(
    fake_openai, batch_on_server, tmp_path
):
    # The converse: the server accepts only the key file's key, but .env offers another one first.
    folder = tmp_path / "project"
    folder.mkdir()
    sources = [".env", "openaiapikey.txt"]
    result = status_with_key_sources(fake_openai, folder, batch_on_server, sources, "openaiapikey.txt")
    assert result.returncode == 1
    assert "rejected the key (401)" in result.stderr, result.stderr
