"""Prompt-injection detector: phrases that try to take over a model, found after normalizing.

Categories: ``instruction-override`` (ignore/disregard the previous instructions),
``role-hijack`` (you are now DAN, developer mode, no restrictions), ``prompt-exfiltration``
(reveal your system prompt, repeat the text above), ``delimiter`` (fake chat-template
markers such as ``<|im_start|>system``, ``[INST]``, ``<<SYS>>``, a ``### System:`` header),
``indirect`` (text addressed to an AI reading a document or tool result, hidden actions
kept from the user, markdown images that carry data out) and ``encoded`` (any of these
inside base64). Matching runs on the normalized text (homoglyphs, zero-width characters,
spaced-out letters, leetspeak undone), so offsets map back to the original.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence

from plinth.capabilities.screens.gated import GatedPattern, GatedSet
from plinth.capabilities.screens.normalize import Normalized, deleet, normalize
from plinth.capabilities.screens.verdicts import Finding, Kind

__all__ = ["InjectionDetector"]

_S = r"[\W_]*+"  # between words: any run of non-letters, or nothing (spaced-out text joins)
_ANY = r"(?:(?:all|any|every|each|the|your|my|these|those|its|of|prior|previous)[\W_]*+){0,3}"
_ADJ = (
    r"(?:previous|prior|above|earlier|preceding|former|initial|original|old|existing|"
    r"system|given|current|developer|safety|default)"
)
_RULES = (
    r"(?:instructions?|prompts?|rules?|directions?|directives?|guidelines?|commands?|"
    r"orders?|constraints?|programming|context|guardrails?|policies|policy|restrictions?|"
    r"messages?|text|content|input)"
)
_VERB = r"(?:ignore|disregard|forget|skip|bypass|override|overrule|neglect|drop|abandon|discard)"
_VERBS = ("ignore", "disregard", "forget", "skip", "bypass", "override", "overrule", "neglect",
          "drop", "abandon", "discard")  # fmt: skip
_AI_WORDS = ("ai", "llm", "llms", "model", "models", "assistant", "assistants", "chatbot",
             "chatbots", "agent", "agents", "bot", "bots", "language")  # fmt: skip
_AI = r"(?:ai|llm|(?:language{_S})?model|assistant|chatbot|agent|bot)s?".replace("{_S}", _S)
_G = GatedPattern.of

# Each pattern runs on the de-leeted normalized text, only near its anchor words.
_SEMANTIC = [
    _G("instruction-override", rf"\b{_VERB}{_S}{_ANY}(?:{_ADJ}{_S})+{_RULES}", 0.95, _VERBS),
    _G("instruction-override", rf"\b{_VERB}{_S}{_ANY}{_RULES}{_S}(?:above|before|so{_S}far)",
       0.9, _VERBS),
    _G("instruction-override",
       rf"\b(?:forget|ignore|disregard){_S}(?:everything|all|anything){_S}(?:above|before|"
       rf"you{_S}(?:were|have{_S}been){_S}(?:told|given|taught)|prior|so{_S}far)",
       0.9, ("forget", "ignore", "disregard")),
    _G("instruction-override",
       rf"\b(?:ignore|disregard){_S}(?:all{_S})?(?:of{_S})?the{_S}above\b(?!{_S}(?:warning|error|"
       rf"message|note|example|line|step|code|output|comment))",
       0.85, ("ignore", "disregard")),
    _G("instruction-override",
       rf"\b(?:new|updated|real|actual|true){_S}(?:system{_S})?instructions?{_S}"
       rf"(?:are|follow|supersede|override)|\b(?:new|updated|real|actual|true){_S}"
       r"(?:system\s+)?instructions?\s*:",
       0.75, ("instruction", "instructions")),
    _G("instruction-override", rf"\b(?:do{_S}not|don'?t){_S}follow{_S}(?:the|your|any){_S}{_ADJ}",
       0.8, ("follow",)),
    _G("role-hijack",
       rf"\byou{_S}are{_S}(?:now|no{_S}longer){_S}(?:an?{_S})?(?:dan|free|unrestricted|"
       rf"unfiltered|uncensored|jailbroken|evil|bound|restricted|an{_S}ai|limited|chatgpt)",
       0.9, ("now", "longer")),
    _G("role-hijack", rf"\b(?:do{_S}anything{_S}now|dan{_S}mode|jailbreak{_S}mode)\b",
       0.85, ("anything", "mode")),
    _G("role-hijack", rf"\b(?:developer|god|admin|debug|sudo){_S}mode{_S}(?:on|enabled|activated)",
       0.9, ("mode",)),
    _G("role-hijack",
       rf"\b(?:act|behave|respond|pretend|roleplay){_S}(?:as|like|to{_S}be|that{_S}you{_S}are)"
       rf"{_S}(?:an?{_S})?(?:unrestricted|unfiltered|uncensored|jailbroken|evil|rogue)",
       0.9, ("unrestricted", "unfiltered", "uncensored", "jailbroken", "evil", "rogue")),
    _G("role-hijack",
       rf"\byou{_S}(?:now{_S})?(?:have|are{_S}under|operate{_S}with){_S}no{_S}(?:more{_S})?"
       rf"(?:restrictions|rules|"
       rf"filters|limits|guidelines|ethical{_S}guidelines|content{_S}polic(?:y|ies))\b",
       0.7, ("restrictions", "rules", "filters", "limits", "guidelines", "policy", "policies")),
    _G("prompt-exfiltration",
       rf"\b(?:reveal|show|print|repeat|output|display|tell|leak|dump|return|write|give|copy|"
       rf"share|disclose|recite|echo|what){_S}(?:me{_S})?(?:is{_S}|are{_S})?(?:back{_S})?"
       rf"(?:your|the|its|all{_S}(?:of{_S})?your){_S}(?:full{_S}|exact{_S}|entire{_S})?"
       rf"(?:system|initial|original|hidden|secret|internal|developer|pre{_S})"
       rf"{_S}(?:prompts?|instructions?|messages?|rules)",
       0.9, ("prompt", "prompts", "instruction", "instructions", "message", "messages", "rules")),
    _G("prompt-exfiltration",
       rf"\b(?:repeat|print|output|copy|recite){_S}(?:(?:all|everything|the|of)[\W_]*+){{0,3}}"
       rf"(?:words|text|lines|everything|content){_S}(?:above|before{_S}this|verbatim)",
       0.8, ("above", "before", "verbatim")),
    _G("indirect", rf"\b(?:if|when){_S}you{_S}are{_S}an?{_S}{_AI}\b", 0.85,
       _AI_WORDS),
    _G("indirect",
       rf"\b(?:(?:note|message|instructions?|attention){_S}(?:to|for){_S}|attention{_S})"
       rf"(?:the{_S}|any{_S}|all{_S})?"
       rf"{_AI}\b",
       0.8, ("note", "message", "messages", "instruction", "instructions", "attention")),
    _G("indirect",
       rf"\b(?:do{_S}not|don'?t|must{_S}not|never){_S}(?:tell|inform|mention|reveal|alert|warn)"
       rf"(?:{_S}[a-z]+){{0,2}}?{_S}(?:to{_S})?(?:the{_S})?user",
       0.8, ("user", "users")),
    _G("indirect", rf"\bwithout{_S}(?:telling|informing|alerting|asking){_S}the{_S}user", 0.75,
       ("without",)),
    _G("encoded",
       rf"\b(?:decode|base{_S}sixty{_S}four|base64|rot{_S}13){_S}(?:this|the{_S}following|it)?"
       rf"{_S}(?:and{_S}then|and|then){_S}(?:follow|execute|run|obey|do)",
       0.85, ("decode", "base64", "base", "rot13", "rot", "sixty")),
]  # fmt: skip

# Markup patterns run on the normalized text (not de-leeted: ``|`` and digits matter).
_MARKUP = [
    _G("delimiter",
       r"<\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id|end_header_id|"
       r"eot_id)\|>",
       0.9, ("<|",)),
    # an opening marker at the start of a line, or a closing one anywhere: a mention such
    # as "use [INST] tokens" is neither (and every check is linear in the text)
    _G("delimiter", r"^[ \t]*\[(?:inst|sys)\]|\[/(?:inst|sys)\]|<</?sys>>", 0.85,
       ("[inst", "[/inst", "[sys", "[/sys", "<<sys", "<</sys"), flags=re.MULTILINE),
    _G("delimiter", r"^[ \t]*#{2,}[ \t]*(?:system|new[ \t]+instructions?)[ \t]*:?[ \t]*$", 0.8,
       ("##",), flags=re.MULTILINE),
    _G("delimiter",
       r"^[ \t]*<(?:system|system_prompt|instructions)>|</(?:system|system_prompt|instructions)>"
       r"|</(?:user|user_input|input|document|context)>\s*<(?:system|system_prompt|instructions)>",
       0.75, ("system>", "instructions>", "system_prompt>"), flags=re.MULTILINE),
    _G("delimiter",
       r"^[ \t]*(?:end[ \t]+of[ \t]+(?:user[ \t]+)?(?:input|prompt|document|context)|"
       r"system[ \t]+override[ \t]*(?::|$))",
       0.8, ("end of", "override"), flags=re.MULTILINE),
    _G("delimiter", r"\"role\"[ \t]*:[ \t]*\"system\"", 0.7, ('"role"',)),
    _G("indirect", r"!\[[^\]\n]{0,100}\]\(https?://[^)\s]{1,200}[?&][a-z_]{1,20}=(?:\{|\$|%7b|<)",
       0.85, ("![",)),
]  # fmt: skip
_SEMANTIC_SET, _MARKUP_SET = GatedSet(_SEMANTIC, whole_words=True), GatedSet(_MARKUP)
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{24,}={0,2}(?![A-Za-z0-9+/=])")
_PRINTABLE = re.compile(r"[^\x09\x0a\x0d\x20-\x7e]")


def _matches(view: Normalized, *, name: str) -> list[Finding]:
    out: list[Finding] = []
    plain = view.text
    for patterns, source in ((_SEMANTIC_SET, deleet(plain)), (_MARKUP_SET, plain)):
        for pattern, m in patterns.matches(source, substrings=bool(view.dropped)):
            start, end = view.span(m.start(), m.end())
            out.append(Finding(name, pattern.category, start, end, pattern.score))
    return out


def _decoded(blob: str) -> str | None:
    """Return the text a base64 run decodes to when it is mostly printable ASCII."""
    try:
        raw = binascii.a2b_base64(blob + "=" * (-len(blob) % 4))
    except (binascii.Error, ValueError):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(_PRINTABLE.findall(text)) > len(text) // 10:
        return None
    return text


class InjectionDetector:
    """Finds prompt-injection attempts (a ``Detector``; its findings' detector is ``injection``)."""

    name = "injection"

    def __init__(self, *, decode_base64: bool = True) -> None:
        self.decode_base64 = decode_base64

    def find(self, text: str, *, kind: Kind = "prompt") -> Sequence[Finding]:
        """Return the injection phrases and markers in ``text``."""
        out = _matches(normalize(text), name=self.name)
        if self.decode_base64:
            for m in _BASE64.finditer(text):
                inner = _decoded(m.group())
                if inner and _matches(normalize(inner), name=self.name):
                    out.append(Finding(self.name, "encoded", m.start(), m.end(), 0.9))
        return out
