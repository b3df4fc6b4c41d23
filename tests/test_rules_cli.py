"""``orderbot rules``: the config file as a way in and out, drafts, publish, rollback."""

from __future__ import annotations

from pathlib import Path

import tomli_w

from tests.support import config_data
from tests.test_cli import no_crash, orderbot_here
from tests.test_cli import orderbot as run

# This checkout's code, whichever one the environment has installed.
HERE = {"PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def orderbot(*args: str | Path, cwd: Path):  # type: ignore[no-untyped-def]
    return run(*args, cwd=cwd, env=HERE)


def test_rules_import_export_draft_publish_and_rollback(database_url: str, tmp_path: Path) -> None:
    """Each command once as the real process, the repeats in this one."""
    config = tmp_path / "orderbot.toml"
    config.write_text(tomli_w.dumps(config_data(database_url)), encoding="utf-8")

    first = orderbot("rules", "import", "-c", config, "--author", "liu", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("第 1 版已生效")

    exported = orderbot("rules", "export", "-c", config, "-o", "rules.toml", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    rules = (tmp_path / "rules.toml").read_text(encoding="utf-8")
    assert "[database]" not in rules and "[sources" not in rules
    same = orderbot_here("rules", "import", "rules.toml", "-c", config, cwd=tmp_path)
    assert same.stdout.strip() == "规则与生效中的版本相同, 没有新版本"  # it round-trips

    (tmp_path / "rules.toml").write_text(rules.replace('limit = "2h"', 'limit = "6h"', 1), "utf-8")
    draft = orderbot("rules", "draft", "rules.toml", "-c", config, "--note", "双11", cwd=tmp_path)
    assert draft.returncode == 0, draft.stderr
    assert draft.stdout.splitlines() == [
        "已保存草稿: 第 2 版 (1 处改动)",
        "  sla[普通待拣货].limit: 2h → 6h",
    ]
    preview = orderbot("rules", "preview", "2", "-c", config, cwd=tmp_path)
    assert "未结订单 0 个: 0 个时限会改变, 其中 0 个会立即超时" in preview.stdout
    published = orderbot("rules", "publish", "2", "-c", config, "--author", "liu", cwd=tmp_path)
    assert published.returncode == 0, published.stderr
    assert "已通知运维: ops-liu" in published.stdout

    (tmp_path / "bad.toml").write_text(rules.replace('limit = "2h"', 'limit = "6"', 1), "utf-8")
    bad = orderbot_here("rules", "draft", "bad.toml", "-c", config, cwd=tmp_path)
    assert bad.returncode == 1
    refused = orderbot_here("rules", "publish", "3", "-c", config, cwd=tmp_path)
    no_crash(refused)
    assert refused.returncode == 2
    assert 'sla[0].limit: 时长须带单位, 例如 "2h"、"90m"、"30s" (而不是 \'6\')' in refused.stderr

    back = orderbot("rules", "rollback", "1", "-c", config, "--author", "zhou", cwd=tmp_path)
    assert back.stdout.splitlines()[:2] == [
        "第 4 版已生效 (1 处改动)",
        "  sla[普通待拣货].limit: 6h → 2h",
    ]
    again = orderbot_here("rules", "export", "-c", config, cwd=tmp_path)
    assert again.stdout == rules

    history = orderbot("rules", "history", "-c", config, cwd=tmp_path).stdout.splitlines()
    assert [line.split(" · ")[:3] for line in history if line.startswith("第")] == [
        ["第 4 版", "生效中", "回滚"],
        ["第 3 版", "草稿", "命令行"],
        ["第 2 版", "已被替换", "命令行"],
        ["第 1 版", "已被替换", "配置文件"],
    ]
    assert history[0].split(" · ")[3] == "zhou" and "sla[普通待拣货].limit: 6h → 2h" in history[1]
