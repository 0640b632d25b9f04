"""Chinese for the few texts Gradio itself puts on the pages (button labels, status, errors).

Gradio translates its own texts by the browser's language, and its zh-CN table lacks some (the
chatbot's 'Copy message'); an English-language browser would show English. These replace Gradio's
texts for 'en' (the fallback) and fill the gaps for 'zh-CN', so the pages read Chinese everywhere.
"""

from __future__ import annotations

import gradio as gr

ZH: dict[str, str] = {
    "chatbot.copy_message": "复制该消息", "chatbot.copied_message": "已复制", "chatbot.clear": "清空对话",
    "chatbot.retry": "重试", "chatbot.undo": "撤销", "chatbot.edit": "编辑", "chatbot.submit": "发送",
    "chatbot.cancel": "取消", "chatbot.like": "有帮助", "chatbot.dislike": "没帮助", "chatbot.complete": "完成",
    "chat_interface.conversation": "对话", "chat_interface.chatbot": "对话",
    "common.clear": "清除", "common.error": "出错了", "common.loading": "加载中", "common.download": "下载",
    "common.empty": "空", "common.remove": "移除", "common.submit": "提交", "common.edit": "编辑",
    "common.undo": "撤销", "common.settings": "设置", "common.share": "分享", "common.or": "或",
    "common.built_with": "", "common.built_with_gradio": "", "common.hosted_on": "", "common.logo": "标志",
    "blocks.connection_can_break": "在手机上，切换到其他页面或锁屏可能使连接中断，请保持本页打开。",
    "blocks.long_requests_queue": "当前咨询人数较多，请稍候。",
    "blocks.lost_connection": "连接已中断，正在重新连接…",
    "blocks.waiting_for_inputs": "请稍候再试。",
    "errors.use_via_api": "", "errors.use_via_api_or_mcp": "",
    "errors.contact_page_author": "请稍后再试，或联系服务中心。",
    "status.queue_position": "排队中：第 {position} 位，共 {size} 位",
    "dropdown.dropdown": "下拉选择", "radio.radio": "单选", "checkbox.checkbox_group": "多选",
}


def chinese() -> gr.I18n:
    return gr.I18n(en=ZH, **{"zh-CN": ZH, "zh": ZH})
