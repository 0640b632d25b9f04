"""The liaisons' workspace (/review) driven in headless Chromium: token, queue, an item, a verdict,
the item leaves. Screenshots at 1400 and 390 px go to .pytest_artifacts/screens/.

The whole app (API + page) runs under uvicorn on a loopback port with a review log of its own;
two questions are asked beforehand so the queue holds a refusal and an answer.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from assistant.review.auth import hash_token
from assistant.service import Assistant
from assistant.settings import Settings
from tests.serving import serve_in_thread

TOKEN = "browser-liaison-token-5d1e"
TIMEOUT_MS = 60_000
ANSWERED = "天津布局建设了多少家概念验证平台？"
REFUSED = "出国旅游怎么办理护照和签证？"


@pytest.fixture(scope="module")
def served(seed_index: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Assistant]]:
    from assistant.api.app import create_app

    settings = seed_index.model_copy(update={"data_dir": tmp_path_factory.mktemp("review-ui") / "data",
                                             "liaison_tokens": [f"浏览器专员:{hash_token(TOKEN)}"]})
    assistant = Assistant(settings)
    assistant.ask(ANSWERED)
    assistant.ask(REFUSED)
    with serve_in_thread(create_app(settings, assistant=assistant)) as url:
        yield url, assistant
    assistant.review.close()




@pytest.mark.browser
def test_review_page_verdict_takes_the_item_out_of_the_queue(served: tuple[str, Assistant], browser: Any,
                                                             screens: Any) -> None:
    from playwright.sync_api import expect

    url, assistant = served
    expect.set_options(timeout=TIMEOUT_MS)
    page = browser.new_page(viewport={"width": 1400, "height": 1100}, locale="zh-CN")
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    assert page.locator("#review-token").count() == 0  # not on the enterprises' page
    page.goto(url + "review")  # redirected to /review/
    token = page.locator("#review-token input")
    message = page.locator("#review-message")

    # A wrong token shows nothing.
    token.fill("wrong-token")
    page.locator("#review-load").click()
    expect(message).to_contain_text("令牌无效")
    expect(page.locator("#review-queue label")).to_have_count(0)

    token.fill(TOKEN)
    page.locator("#review-load").click()
    expect(message).to_contain_text("队列中共 2 条")
    items = page.locator("#review-queue label")
    expect(items).to_have_count(2)
    expect(items.first).to_contain_text("拒答")  # the refusal needs a human: first
    expect(items.first).to_contain_text(REFUSED)

    # Open the answered item: sentences beside passages, cited words highlighted, support shown.
    items.filter(has_text=ANSWERED).click()
    view = page.locator("#review-item .review-item")
    expect(view).to_contain_text(ANSWERED)
    answer_id = int(view.get_attribute("data-id"))
    expect(page.locator("#review-item table.sentences tbody tr").first).to_be_visible()
    marks = page.locator("#review-item table.sentences mark").all_inner_texts()
    assert any("25家" in m for m in marks), marks
    expect(page.locator("#review-item td.support").first).to_contain_text("1.00")
    screens(page, "review-item-1400")
    page.set_viewport_size({"width": 390, "height": 844})
    width = page.evaluate("document.documentElement.scrollWidth")
    screens(page, "review-item-390")
    assert width <= 390, width
    page.set_viewport_size({"width": 1400, "height": 1100})

    page.locator("#review-verdict label").filter(has_text="正确").click()
    page.locator("#review-note textarea").fill("核对原文无误")
    page.locator("#review-submit").click()
    expect(message).to_contain_text("已记录结论")
    expect(message).to_contain_text("队列中共 1 条")
    expect(items).to_have_count(1)
    expect(page.locator("#review-queue")).not_to_contain_text(ANSWERED)
    expect(page.locator("#review-item .review-item")).to_have_count(0)

    conn = sqlite3.connect(assistant.settings.review_db_path)
    try:
        rows = conn.execute("SELECT answer_id, verdict, note, reviewer FROM verdicts").fetchall()
    finally:
        conn.close()
    assert rows == [(answer_id, "correct", "核对原文无误", "浏览器专员")]

    # Correct the refusal: search a passage, pick it, write a sentence citing it as [1].
    items.first.click()
    expect(view).to_contain_text(REFUSED)
    page.locator("#review-search-q").locator("textarea, input").first.fill("概念验证平台 布局建设")
    page.locator("#review-search").click()
    results = page.locator("#review-search-results label")
    expect(results.first).to_be_visible()
    results.first.click()
    page.locator("#review-add-citation").click()
    expect(page.locator("#review-picked li[data-n='1']")).to_contain_text("《")
    page.locator("#review-verdict label").filter(has_text="需修改").click()
    page.locator("#review-corrected textarea").fill("没有引用的句子。")
    page.locator("#review-submit").click()
    expect(message).to_contain_text("未记录：更正答复的每一句都要用 [n] 标注所引段落")  # in Chinese, saying which
    expect(items).to_have_count(1)
    page.locator("#review-corrected textarea").fill("布局建设中关村硬创空间等25家行业概念验证平台。[1]")
    page.locator("#review-submit").click()
    expect(message).to_contain_text("将作为审核答复")
    expect(items).to_have_count(0)
    served = assistant.ask(REFUSED)
    assert served.reviewed and served.answer.startswith("布局建设中关村硬创空间等25家")

    # The reviewed items are still there under 已审核.
    page.locator("#review-status input").click()
    page.get_by_role("option", name="已审核").click()
    expect(items).to_have_count(3)  # the two reviewed, and the curated answer just served
    expect(page.locator("#review-queue")).to_contain_text(ANSWERED)
    page.close()
