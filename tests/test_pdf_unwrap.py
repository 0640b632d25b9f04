"""PDF text keeps the page's line wraps; they are joined back so sentences and articles stay whole."""

from assistant.load.parse import unwrap_lines

WRAPPED = """关于支持中试平台建设的通知（测试用合成文本）
津科发〔2025〕1号
各区科技局：
第一条 为支持中试平台建设，根据有关规定，结合本市实际，制定本
办法。本办法适用于本市行政区域内的中试平台建设和运营活动，具
体要求如下。
第二条 中试平台应当具备相应条件。
（一）具有独立法人资格，在本市注册并实际经营满一年以上的企业
或者机构；
（二）有专业团队。
天津市科学技术局
2025年1月2日"""


def test_wrapped_lines_are_joined_and_headings_kept() -> None:
    lines = unwrap_lines(WRAPPED).split("\n")
    assert "第一条 为支持中试平台建设，根据有关规定，结合本市实际，制定本办法。本办法适用于本市行政区域内的中试平台建设和运营活动，具体要求如下。" in lines
    assert "（一）具有独立法人资格，在本市注册并实际经营满一年以上的企业或者机构；" in lines
    for kept in ("关于支持中试平台建设的通知（测试用合成文本）", "津科发〔2025〕1号", "第二条 中试平台应当具备相应条件。",
                 "天津市科学技术局", "2025年1月2日"):
        assert kept in lines
