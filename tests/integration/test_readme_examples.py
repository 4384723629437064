"""The README's Python examples run as written, against a real server (addresses swapped in)."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
README = Path(__file__).resolve().parents[2] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_readme_has_python_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index, tiny_server, capsys):
    code = BLOCKS[index].replace("localhost:8001", tiny_server.grpc_url).replace("localhost:8000", tiny_server.http_url)
    exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "readme_example"})
    assert capsys.readouterr().out.strip()
