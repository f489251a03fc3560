"""Literal property values: strings, integers, booleans, durations, value objects and localizable strings."""

from __future__ import annotations

from typing import Any

from tvilling.dtdl.graph import _BAD, _XSD, DURATION, LANG, Ctx, Elem, Reporter
from tvilling.dtdl.meta import PropC


class LiteralMixin(Reporter):
    def literal(self, item: Any, cons: list[PropC], name: str, where: str, version: int, ctx: Ctx) -> Any:
        if isinstance(item, dict):
            strict = self.meta.restrict_keywords.get(version, True)
            if "@value" not in item or (strict and set(item) - {"@value", "@type"}) or {"@id", "@context",
                                                                                          "@graph"} & set(item):
                self.err(f"property {name!r}: a value object must have @value and may only add @type", where)
                return _BAD
            if "@type" in item:
                t = item["@type"]
                t = t[0] if isinstance(t, list) and len(t) == 1 else t
                dts = {c.datatype for c in cons if c.datatype}
                names = {f"xsd:{x.split(':')[1]}" for x in dts} | {_XSD + x.split(":")[1] for x in dts} if dts else {
                    "xsd:string", _XSD + "string", "xsd:integer", _XSD + "integer"}
                if not isinstance(t, str) or t not in names:
                    self.err(f"property {name!r}: value @type {item['@type']!r} does not match the datatype", where)
                    return _BAD
            item = item["@value"]
        datatypes = {c.datatype for c in cons if c.datatype}
        for dt in datatypes:
            if dt in ("xsd:string", "xsd:duration") and not isinstance(item, str):
                self.err(f"property {name!r} must be a string; got {item!r}", where)
                return _BAD
            if dt == "xsd:integer" and (not isinstance(item, int) or isinstance(item, bool)):
                self.err(f"property {name!r} must be an integer; got {item!r}", where)
                return _BAD
            if dt == "xsd:boolean" and not isinstance(item, bool):
                self.err(f"property {name!r} must be true or false; got {item!r}", where)
                return _BAD
            if dt == "xsd:duration" and not DURATION.match(item):
                self.err(f"property {name!r} must be an ISO 8601 duration; got {item!r}", where)
                return _BAD
        if not datatypes and not isinstance(item, str | int | float | bool):
            self.err(f"property {name!r} must be a literal value; got {item!r}", where)
            return _BAD
        for c in cons:
            if c.pattern and isinstance(item, str) and not c.pattern.match(item):
                rule = f" ({c.pattern_desc})" if c.pattern_desc else ""
                self.err(f"{name} {item!r} is not valid{rule}", where)
                return _BAD
            if c.max_length and isinstance(item, str) and len(item) > self.max_len(c, ctx):
                self.err(f"property {name!r} is {len(item)} characters long; at most {self.max_len(c, ctx)} allowed",
                         where)
                return _BAD
            if isinstance(item, int) and not isinstance(item, bool):
                if c.min_inclusive is not None and item < c.min_inclusive:
                    self.err(f"property {name!r} must be at least {c.min_inclusive}; got {item}", where)
                    return _BAD
                if c.max_inclusive is not None and item > c.max_inclusive:
                    self.err(f"property {name!r} must be at most {c.max_inclusive}; got {item}", where)
                    return _BAD
        return item

    def lang_string(self, el: Elem, name: str, raw: Any, cons: list[PropC]) -> None:
        where = el.where()
        maxlen = min((self.max_len(c, el.ctx) for c in cons if c.max_length), default=None)
        pairs: list[tuple[str, Any]] = []
        strict = self.meta.restrict_keywords.get(el.version, True)
        if isinstance(raw, str):
            pairs.append(("", raw))
        elif isinstance(raw, dict):
            for lang, text in raw.items():
                if not LANG.match(lang):
                    self.err(f"{name!r}: {lang!r} is not a language code like 'en' or 'en-US'", where)
                    return
                pairs.append((lang, text))
        elif isinstance(raw, list):
            for item in raw:
                if isinstance(item, str):
                    pairs.append(("", item))
                elif isinstance(item, dict):
                    if (strict and set(item) - {"@value", "@language"}) or "@value" not in item or {
                            "@id", "@context", "@graph"} & set(item):
                        self.err(f"{name!r}: each element must have @value and optionally @language", where)
                        return
                    lang = item.get("@language", "")
                    if not isinstance(lang, str) or (lang and not LANG.match(lang)):
                        self.err(f"{name!r}: {lang!r} is not a language code", where)
                        return
                    pairs.append((lang, item["@value"]))
                else:
                    self.err(f"{name!r} must be a string, a language map or an array of them", where)
                    return
        else:
            self.err(f"{name!r} must be a string or a language map like {{\"en\": \"...\"}}", where)
            return
        langs: set[str] = set()
        for lang0, text in pairs:
            lang = lang0 or "en"  # DTDL's default language
            if not isinstance(text, str):
                self.err(f"{name!r} values must be strings; got {text!r}", where)
                return
            if maxlen is not None and len(text) > maxlen:
                self.err(f"{name!r} is {len(text)} characters long; at most {maxlen} allowed", where)
                return
            if lang in langs:
                self.err(f"{name!r} has more than one value for language {lang or '(default)'!r}", where)
                return
            langs.add(lang)
        el.props[next(c.path for c in cons)] = [dict(pairs)]


