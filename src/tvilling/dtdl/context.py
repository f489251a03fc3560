"""``@context`` processing: DTDL version, language extensions, limit extensions, undefined contexts."""

from __future__ import annotations

from typing import Any

from tvilling.dtdl.graph import CONTEXT_DTMI, Ctx, Reporter, _as_list
from tvilling.dtdl.meta import DTDL_CONTEXT


class ContextMixin(Reporter):
    def context(self, raw: Any, outer: Ctx | None, where: str) -> Ctx | None:
        if not isinstance(raw, str | list) or (isinstance(raw, list) and not all(isinstance(x, str) for x in raw)):
            self.err("@context must be a string or an array of strings", where)
            return None
        values: list[str] = _as_list(raw)
        version = outer.version if outer else None
        exts = list(outer.exts) if outer else []
        undefined = outer.undefined if outer else False
        limitless = outer.limitless if outer else False
        limits = outer.limits if outer else None
        pending: list[str] = []  # extension contexts named before the DTDL context
        ok = True
        for c in values:
            m = DTDL_CONTEXT.match(c)
            if m:
                v = int(m.group(1))
                if v not in self.meta.terms:
                    self.err(f"DTDL version {v} is not supported (2, 3 and 4 are)", where)
                    return None
                if m.group(2) and not any(e.limits and v in e.versions for e in self.meta.extensions.values()):
                    self.err(f"DTDL v{v} has no limitless context; use dtmi:dtdl:context;{v}", where)
                    return None
                version = v
                exts = []
                limitless = bool(m.group(2))
                limits = None
                for p in pending:
                    ext = self.meta.extensions.get(p)
                    if v == 2 and ext is not None and ext.version == 2:
                        exts.append(p)  # DTDL v2 tolerates a v2 extension ahead of the DTDL context
                    else:
                        self.err(f"@context {p} must come after the DTDL context", where)
                        ok = False
                pending = []
                continue
            if not CONTEXT_DTMI.match(c):
                self.err(f"@context value {c!r} must be a DTMI with a version, e.g. dtmi:dtdl:extension:"
                         "quantitativeTypes;1", where)
                ok = False
                continue
            if version is None:
                pending.append(c)
                continue
            ext = self.meta.extensions.get(c)
            if ext is not None and ext.limits and version in ext.versions:
                if not limitless:
                    self.err(f"limit extension {c} needs the limitless DTDL context "
                             f"dtmi:dtdl:context;{version}#limitless in place of dtmi:dtdl:context;{version}", where)
                    ok = False
                limits = c
            elif ext is not None and version in ext.versions:
                if c not in exts:
                    exts.append(c)
            elif self.allow:
                undefined = True
            else:
                self.err(f"@context {c} is not a language extension defined for DTDL v{version}", where,
                         "remove it, or allow undefined extensions")
                ok = False
        if version is None:
            self.err("@context must include the DTDL context, e.g. dtmi:dtdl:context;3", where)
            return None
        if ok and limitless and limits is None and outer is None:
            self.err(f"dtmi:dtdl:context;{version}#limitless must be followed by a limit extension context, "
                     "e.g. dtmi:dtdl:limits:onvif;1", where)
            ok = False
        return Ctx(version, tuple(exts), undefined, limitless, limits) if ok else None

