"""GET /sandbox/: one self-contained page (inline CSS and JS, nothing fetched from elsewhere)
that shows each group chat and each member's 1:1 chat as WeCom users would see them, polling
/sandbox/api/messages, and lets you type as a member to the bot (POST /sandbox/api/say); and
each customer's phone (masked) with the texts the SMS providers accepted for it
(/sandbox/api/sms); and the payment gateways' bills with the differences injected into them
(/sandbox/api/bills).

Everything from messages reaches the DOM through textContent and a small markdown renderer
that builds elements, never through innerHTML.
"""

from __future__ import annotations

from aiohttp import web

PAGE = r"""<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>企业微信沙箱 · orderbot</title>
<style>
  body { font: 14px/1.5 system-ui, "PingFang SC", "Microsoft YaHei", sans-serif; margin: 0;
         background: #f3f4f6; color: #1f2328; }
  header { background: #1f6feb; color: #fff; padding: 8px 16px; display: flex; gap: 16px;
           align-items: baseline; }
  header h1 { font-size: 16px; margin: 0; }
  #connection { color: #ffd33d; }
  #notice { padding: 6px 16px; background: #fff8c5; }
  #notice:empty { display: none; }
  main { padding: 12px 16px 170px; }
  h2.section { font-size: 14px; color: #57606a; margin: 8px 0; }
  .chats { display: grid; grid-template-columns: repeat(auto-fill, minmax(340px, 1fr));
           gap: 12px; margin-bottom: 16px; }
  .chat { background: #fff; border-radius: 8px; box-shadow: 0 1px 2px #0002;
          display: flex; flex-direction: column; max-height: 480px; }
  .chat h3 { font-size: 14px; margin: 0; padding: 8px 12px; border-bottom: 1px solid #eee; }
  .chat h3 small { color: #8c959f; font-weight: normal; }
  .messages { list-style: none; margin: 0; padding: 8px 12px; overflow-y: auto; flex: 1; }
  .messages:empty::after { content: "暂无消息"; color: #8c959f; }
  .message { margin: 6px 0; padding: 6px 8px; border-radius: 6px; background: #f6f8fa;
             overflow-wrap: anywhere; }
  .message.in { background: #dafbe1; margin-left: 24px; }
  .meta { font-size: 12px; color: #8c959f; }
  .line.h { font-weight: bold; font-size: 15px; }
  .line.quote { border-left: 3px solid #d0d7de; padding-left: 6px; color: #57606a; }
  .font-info { color: #1a7f37; }
  .font-comment { color: #8c959f; }
  .font-warning { color: #d1242f; }
  .mention { color: #0969da; }
  pre { white-space: pre-wrap; margin: 0; font-size: 12px; }
  form { position: fixed; bottom: 0; left: 0; right: 0; background: #fff;
         border-top: 1px solid #d0d7de; padding: 8px 16px; display: grid; gap: 6px;
         grid-template-columns: 180px 260px 1fr auto; align-items: end; }
  form label { display: flex; flex-direction: column; font-size: 12px; color: #57606a; }
  textarea { height: 56px; font: inherit; }
  #say-status { grid-column: 1 / -1; min-height: 1.5em; }
  #say-status.error { color: #d1242f; }
  table.bill { border-collapse: collapse; font-size: 12px; margin: 8px 12px; }
  table.bill td, table.bill th { padding: 2px 6px; border-bottom: 1px solid #eee;
                                 text-align: right; }
  table.bill td:first-child, table.bill th:first-child { text-align: left; }
  tr.difference td { color: #d1242f; }
</style>
</head>
<body>
<header>
  <h1>企业微信沙箱</h1><span>orderbot 的假企业微信：群聊、应用消息与回调</span>
  <span id="connection" data-testid="connection"></span>
</header>
<div id="notice" data-testid="notice"></div>
<main>
  <h2 class="section">群聊</h2>
  <section id="groups" class="chats" data-testid="groups"></section>
  <h2 class="section">成员单聊</h2>
  <section id="people" class="chats" data-testid="people"></section>
  <h2 class="section">客户手机（短信）</h2>
  <section id="phones" class="chats" data-testid="phones"></section>
  <h2 class="section">支付网关账单 <small id="bill-day" data-testid="bill-day"></small></h2>
  <section id="bills" class="chats" data-testid="bills"></section>
</main>
<form id="say-form" data-testid="say-form">
  <label>成员 <input id="say-user" data-testid="say-user" name="user" list="known-users"
    required autocomplete="off"></label>
  <datalist id="known-users"></datalist>
  <label>发送到 <select id="say-target" data-testid="say-target" name="target">
    <option value="app">应用单聊（自建应用回调）</option>
  </select></label>
  <label>消息 <textarea id="say-text" data-testid="say-text" name="text" required></textarea>
  </label>
  <button id="say-send" data-testid="say-send" type="submit">发送</button>
  <output id="say-status" data-testid="say-status"></output>
</form>
<script>
"use strict";
const seen = { last: 0, chats: new Map(), groups: new Set(), aibot: "机器人", users: [] };
const $ = (id) => document.getElementById(id);
const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

// Inline markup WeCom renders: **bold**, <font color>, <@userid>, [text](http link).
const INLINE = new RegExp([
  String.raw`\*\*([^*\n]+)\*\*`,
  String.raw`<font color="(info|comment|warning)">([\s\S]*?)<\/font>`,
  String.raw`<@([^>\s]+)>`,
  String.raw`\[([^\]\n]+)\]\((https?:\/\/[^)\s]+)\)`,
].join("|"), "g");
const MODES = {
  text: { mention: true },
  markdown: { bold: true, font: true, mention: true, link: true, block: true },
  markdown_v2: { bold: true, link: true, block: true },  // no colours, no mentions
};

function inline(parent, text, mode) {
  let at = 0;
  for (const m of text.matchAll(INLINE)) {
    const kind = m[1] !== undefined ? "bold" : m[2] !== undefined ? "font"
      : m[4] !== undefined ? "mention" : "link";
    if (!mode[kind]) continue;
    parent.append(text.slice(at, m.index));
    if (kind === "bold") parent.append(el("strong", "", m[1]));
    else if (kind === "mention") parent.append(el("span", "mention", "@" + m[4]));
    else if (kind === "font") {
      const span = el("span", "font-" + m[2]);
      inline(span, m[3], mode);
      parent.append(span);
    } else {
      const a = el("a", "", m[5]);
      a.href = m[6]; a.target = "_blank"; a.rel = "noopener noreferrer";
      parent.append(a);
    }
    at = m.index + m[0].length;
  }
  parent.append(text.slice(at));
}

function rich(text, mode) {
  const box = el("div", "content");
  for (const line of String(text).split("\n")) {
    const row = el("div", "line");
    let body = line;
    const heading = mode.block && /^#{1,6}\s+(.*)$/.exec(line);
    if (heading) {
      row.classList.add("h");
      body = heading[1];
    } else if (mode.block && line.startsWith(">")) {
      row.classList.add("quote");
      body = line.slice(1).trim();
    }
    inline(row, body, mode);
    if (!line) row.append("\u00a0");
    box.append(row);
  }
  return box;
}

function fileLink(media) {
  const a = el("a", "file", `📎 ${media.filename} (${media.size} 字节)`);
  a.href = media.url.replace(/^\/sandbox\//, "");
  a.download = media.filename;
  a.dataset.testid = "file-link";
  return a;
}

function sender(m) {
  if (m.direction === "in") return m.from_user;
  if (m.endpoint === "webhook/send") return "群机器人";
  if (m.endpoint === "aibot/response") return seen.aibot;
  return "应用";
}

function renderMessage(m) {
  const li = el("li", "message " + m.direction);
  li.dataset.testid = "message";
  li.dataset.messageId = m.id;
  li.dataset.msgtype = m.msgtype;
  const when = new Date(m.time * 1000).toLocaleTimeString(
    "zh-CN", {timeZone: "Asia/Shanghai", hour12: false});
  li.append(el("div", "meta", `#${m.id} ${when} · ${sender(m)} · ${m.msgtype}`));
  const part = (m.body || {})[m.msgtype] || {};
  if (m.msgtype === "text") {
    li.append(rich(part.content || "", MODES.text));
    const mentions = [].concat(part.mentioned_list || [], part.mentioned_mobile_list || []);
    if (mentions.length) li.append(el("div", "mention", mentions.map((u) => "@" + u).join(" ")));
  } else if (m.msgtype in MODES) {
    li.append(rich(part.content || "", MODES[m.msgtype]));
  } else if (m.media) {
    li.append(fileLink(m.media));
  } else if (m.msgtype === "textcard" || m.msgtype === "news") {
    const items = m.msgtype === "news" ? part.articles || [] : [part];
    for (const item of items) {
      const a = el("a", "", item.title || "");
      if (/^https?:\/\//.test(item.url || "")) a.href = item.url;
      a.target = "_blank"; a.rel = "noopener noreferrer";
      const title = el("div", "line h");
      title.append(a);
      li.append(title);
      if (item.description) li.append(el("div", "line", item.description));
    }
  } else if (m.content) {
    li.append(rich(m.content, MODES.text));
  } else {
    li.append(el("pre", "", JSON.stringify(m.body, null, 2)));
  }
  return li;
}

function chatCard(key, title, subtitle) {
  let card = seen.chats.get(key);
  if (card) return card;
  card = el("article", "chat");
  card.dataset.testid = "chat";
  card.dataset.chatKey = key;
  const heading = el("h3", "", title + " ");
  heading.append(el("small", "", subtitle));
  card.append(heading, el("ol", "messages"));
  $(key.startsWith("user:") ? "people" : "groups").append(card);
  seen.chats.set(key, card);
  return card;
}

function addGroup(group) {
  if (seen.groups.has(group.chat_id)) return;
  seen.groups.add(group.chat_id);
  const kind = group.kind === "robot" ? "群机器人" : "应用群聊";
  chatCard("group:" + group.chat_id, group.name, kind);
  const option = el("option", "", `群：${group.name}（@${seen.aibot}）`);
  option.value = group.chat_id;
  $("say-target").append(option);
}

function place(m) {
  const keys = m.target_kind === "user" ? m.users.map((u) => "user:" + u) : ["group:" + m.target];
  for (const key of keys) {
    if (key.startsWith("group:") && !seen.groups.has(m.target)) {
      addGroup({ chat_id: m.target, name: m.chat_name || m.target, kind: m.target_kind });
    }
    const subtitle = key.startsWith("user:") ? "单聊" : "";
    const list = chatCard(key, key.slice(key.indexOf(":") + 1), subtitle).querySelector("ol");
    list.append(renderMessage(m));
    list.scrollTop = list.scrollHeight;
  }
}

async function loadChats() {
  const data = await (await fetch("api/chats")).json();
  seen.aibot = data.aibot_name;
  seen.users = data.users;
  for (const group of data.groups) addGroup(group);
  for (const user of data.users) {
    const option = el("option");
    option.value = user;
    $("known-users").append(option);
    chatCard("user:" + user, user, "单聊");
  }
  const missing = Object.entries(data.callbacks).filter(([, on]) => !on).map(([k]) => k);
  if (missing.length) {
    $("notice").textContent = `未配置机器人回调 URL（${missing.join("、")}）：发送会失败。`;
  }
}

async function poll() {
  try {
    const data = await (await fetch(`api/messages?since=${seen.last}`)).json();
    for (const m of data.messages) {
      place(m);
      seen.last = Math.max(seen.last, m.id);
    }
    $("connection").textContent = "";
  } catch (error) {
    $("connection").textContent = "连接沙箱失败，重试中…";
  }
  setTimeout(poll, 1000);
}

// Customers' phones: the texts the SMS providers accepted for each (numbers masked).
const PROVIDERS = { tencent: "腾讯云短信", aliyun: "阿里云短信" };
const RECEIPTS = { delivered: "已送达", undelivered: "未送达" };
const phones = new Map();

function phoneCard(phone) {
  let card = phones.get(phone.key);
  if (card) return card;
  card = el("article", "chat");
  card.dataset.testid = "phone";
  card.dataset.phoneKey = phone.key;
  const heading = el("h3", "", "📱 " + phone.phone + " ");
  heading.append(el("small", "", "短信"));
  card.append(heading, el("ol", "messages"));
  $("phones").append(card);
  phones.set(phone.key, card);
  return card;
}

function renderText(text) {
  const li = el("li", "message");
  li.dataset.testid = "sms";
  li.dataset.textId = text.id;
  const when = new Date(text.time * 1000).toLocaleString(
    "zh-CN", {timeZone: "Asia/Shanghai", hour12: false});
  const receipt = RECEIPTS[text.receipt] || "待回执";
  li.append(el("div", "meta", `${when} · ${PROVIDERS[text.provider] || text.provider} · `
    + `模板 ${text.template} · ${receipt}`));
  li.append(el("div", "line", text.content));
  return li;
}

async function pollPhones() {
  try {
    const data = await (await fetch("api/sms")).json();
    for (const phone of data.phones) {
      if (!phone.texts.length) continue;
      const list = phoneCard(phone).querySelector("ol");
      const shown = new Map([...list.children].map((li) => [li.dataset.textId, li]));
      for (const text of phone.texts) {
        const li = renderText(text);
        const old = shown.get(String(text.id));
        if (old) old.replaceWith(li); else list.append(li);
      }
    }
  } catch (error) {
    // the chats' poll reports the connection
  }
  setTimeout(pollPhones, 1000);
}

// The payment gateways' bills of their yesterday: each line, the injected differences in red.
const GATEWAY_NAMES = { wechat: "微信支付 交易账单", alipay: "支付宝 业务账单" };
const DIFFERENCES = { missing: "漏账: 付款未进账单", extra: "长款: 无对应订单",
  amount: "金额少 1 元", duplicate: "重复入账", refund: "退款不在订单上",
  fee: "手续费按 1.00% 收" };

function yuan(fen) { return (fen / 100).toFixed(2); }

function billCard(gateway, lines, omitted) {
  const card = el("article", "chat");
  card.dataset.testid = "bill";
  card.dataset.gateway = gateway;
  const heading = el("h3", "", GATEWAY_NAMES[gateway] + " ");
  heading.append(el("small", "", `${lines.length} 行`));
  const table = el("table", "bill");
  const head = el("tr");
  for (const title of ["商户订单号", "时间", "金额", "手续费", "差异"]) {
    head.append(el("th", "", title));
  }
  table.append(head);
  // times come in Beijing time (+08:00): the clock part as it is
  const rows = lines.map((line) => [line.order_no, line.at.slice(11, 19),
    yuan(line.refund_fen ? -line.refund_fen : line.amount_fen),
    (line.fee_milli / 100000).toFixed(5), line.difference]);
  for (const item of omitted) rows.push([item.order_no, "", yuan(item.amount_fen), "", "missing"]);
  for (const [order, at, amount, fee, difference] of rows) {
    const tr = el("tr", difference ? "difference" : "");
    tr.dataset.testid = "bill-line";
    for (const cell of [order, at, amount, fee, DIFFERENCES[difference] || ""]) {
      tr.append(el("td", "", cell));
    }
    table.append(tr);
  }
  card.append(heading, table);
  return card;
}

async function pollBills() {
  try {
    const data = await (await fetch("api/bills")).json();
    $("bill-day").textContent = `${data.date}${data.ready ? "" : "（生成中）"}`;
    $("bills").replaceChildren(...Object.keys(GATEWAY_NAMES).map(
      (g) => billCard(g, data.bills[g], data.omitted[g])));
  } catch (error) {
    // the chats' poll reports the connection
  }
  setTimeout(pollBills, 3000);
}

$("say-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const status = $("say-status");
  status.className = "";
  status.textContent = "发送中…";
  const payload = { user: $("say-user").value.trim(), target: $("say-target").value,
                    text: $("say-text").value };
  // WeCom delivers messages only from members it knows (no list: everyone exists).
  const known = seen.users.some((u) => u.toLowerCase() === payload.user.toLowerCase());
  if (seen.users.length && !known) {
    status.className = "error";
    status.textContent = `通讯录里没有成员「${payload.user}」：企业微信不会送来不认识的人的消息。`
      + `请从列表中选择：${seen.users.join("、")}`;
    return;
  }
  try {
    const response = await fetch("api/say", { method: "POST",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
    const data = await response.json();
    if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
    status.textContent = "已送达机器人";
    $("say-text").value = "";
  } catch (error) {
    status.className = "error";
    status.textContent = error.message;
  }
});

loadChats().catch(() => { $("connection").textContent = "连接沙箱失败"; }).finally(poll);
pollPhones();
pollBills();
</script>
</body>
</html>
"""


async def page(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html", headers={"Cache-Control": "no-store"})


async def to_page(request: web.Request) -> web.Response:
    # The page's links are relative to /sandbox/, so the slash matters.
    raise web.HTTPFound("/sandbox/")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sandbox/", page)
    app.router.add_get("/sandbox", to_page)
