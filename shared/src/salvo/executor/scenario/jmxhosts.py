"""Which HTTP samplers of a JMeter plan name a host, and a copy of the plan that gives the others one."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from xml.parsers import expat

from salvo.common.errors import ScenarioError

__all__ = ["HostedPlan", "JmxPlan", "Sampler", "hostless_message", "parse_plan", "with_host"]

# Element tags (or testclass) of JMeter's HTTP samplers: today's proxy and the two it replaced.
HTTP_SAMPLERS = frozenset({"HTTPSamplerProxy", "HTTPSampler", "HTTPSampler2"})
HTTP_DEFAULTS_GUI = "HttpDefaultsGui"
FRAGMENT = "TestFragmentController"
DOMAIN, PROTOCOL, PORT, PATH = "HTTPSampler.domain", "HTTPSampler.protocol", "HTTPSampler.port", "HTTPSampler.path"
SHOWN_SAMPLERS = 3  # named in a refusal, then "and N more"
_ABSOLUTE_PATH = re.compile(r"https?://")  # JMeter's test: such a path is the whole URL, the domain unused


@dataclass(frozen=True)
class Address:
    """Where HTTP Request Defaults (or a sampler) send a request; "" where they say nothing."""

    domain: str = ""
    protocol: str = ""
    port: str = ""

    def under(self, outer: Address) -> Address:
        """These values, with `outer`'s where these are blank: JMeter merges the innermost config first."""
        return Address(self.domain or outer.domain, self.protocol or outer.protocol, self.port or outer.port)


@dataclass(frozen=True)
class Sampler:
    name: str  # its testname
    own: Address  # the sampler's own domain, protocol and port
    defaults: Address  # merged from the HTTP Request Defaults in its scope
    path: str
    in_fragment: bool  # inside a Test Fragment: run by Module Controllers, wherever they are
    location: tuple[int, ...]  # child indexes from the plan's root element, to find it in a copy

    @property
    def names_host(self) -> bool:
        """Its own domain, a Defaults domain in scope, or an absolute URL as its path: it knows where to go."""
        return bool(self.own.domain or self.defaults.domain or _ABSOLUTE_PATH.match(self.path))

    @property
    def path_is_expression(self) -> bool:
        """A path such as ${url} may hold a whole URL: only the run can tell."""
        return self.path.startswith("${")


@dataclass(frozen=True)
class JmxPlan:
    """A parsed plan: its enabled HTTP samplers, each with the host sources in its scope."""

    path: Path
    root: ET.Element
    samplers: tuple[Sampler, ...]
    has_scoped_defaults_domain: bool  # some enabled Defaults below the test plan level names a domain

    @property
    def hostless(self) -> list[Sampler]:
        """Samplers that may lack a host: those the target host is given to (HostedPlan)."""
        return [s for s in self.samplers if not s.names_host]

    @property
    def unaddressed(self) -> list[Sampler]:
        """Samplers that certainly send to no host: no domain, no absolute URL, no expression that could be one.

        A Test Fragment's samplers take the Defaults of wherever a Module Controller runs them: they
        count only when no Defaults anywhere in the plan names a domain.
        """
        return [
            s
            for s in self.hostless
            if not s.path_is_expression and not (s.in_fragment and self.has_scoped_defaults_domain)
        ]


@dataclass(frozen=True)
class HostedPlan:
    """A plan's text with the target host written into its hostless samplers."""

    text: bytes
    samplers: int  # how many were given the host


def parse_plan(path: Path, shown: str) -> JmxPlan:
    """Read and parse a .jmx plan; `shown` names it in a refusal (ScenarioError).

    A DOCTYPE (and so any ENTITY declaration) is refused before the tree is built:
    plans are user uploads and JMeter never writes one.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScenarioError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    _refuse_doctype(data, shown)
    try:
        root = ET.fromstring(data)  # noqa: S314 -- no DOCTYPE (refused above), so no entities to expand
    except ET.ParseError as exc:
        line, column = exc.position
        message = expat.ErrorString(exc.code) if exc.code else str(exc)
        raise ScenarioError(
            f"{shown}: not a readable JMeter plan: {message} (line {line}, column {column + 1})"
        ) from None
    _check_depth(root, shown)
    samplers: list[Sampler] = []
    scoped = False
    for index, tree in enumerate(root):
        if tree.tag == "hashTree":
            scoped |= _walk(tree, (index,), Address(), False, samplers, depth=0)
    return JmxPlan(path=path, root=root, samplers=tuple(samplers), has_scoped_defaults_domain=scoped)


def hostless_message(plan: JmxPlan, shown: str) -> str | None:
    """The one line refusing a plan some of whose samplers send nowhere; None when all have a host."""
    missing = plan.unaddressed
    if not missing:
        return None
    names = [s.name for s in missing[:SHOWN_SAMPLERS]]
    more = f" and {len(missing) - SHOWN_SAMPLERS} more" if len(missing) > SHOWN_SAMPLERS else ""
    what = "HTTP sampler names" if len(missing) == 1 else "HTTP samplers name"
    return (
        f"{shown}: {what} no host ({', '.join(names)}{more}): set SALVO_TARGET_HOST, a host in the plan "
        "(sampler or HTTP Request Defaults), or default-address in the Taurus scenario"
    )


def with_host(plan: JmxPlan, base_url: str, shown: str) -> HostedPlan:
    """A copy of the plan in which every hostless sampler sends to `base_url` (http[s]://host[:port][/prefix]).

    Only those samplers change, and only what nothing in the plan sets for them:
    the domain always; protocol and port where neither the sampler nor a Defaults
    in its scope has one (as an outermost HTTP Request Defaults would, but
    without reaching samplers that name their own host). A path prefix in
    `base_url` goes before each such sampler's path, as locust joins --host and a
    request's path; a path starting with an expression (${url}) is left as it is,
    since it may be a whole URL.
    """
    url = urlsplit(base_url.strip())
    try:
        valid = url.scheme in ("http", "https") and bool(url.hostname) and (url.port is None or url.port > 0)
    except ValueError:  # a port that is not a number
        valid = False
    if not valid:
        raise ScenarioError(
            f"{shown}: its samplers that name no host cannot be sent to {base_url!r}: "
            "not an http(s) base URL such as http://target:8080"
        )
    domain = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    port = str(url.port) if url.port is not None else ""
    prefix = url.path.rstrip("/")
    root = copy.deepcopy(plan.root)
    given = 0
    for sampler in plan.hostless:
        element = _at(root, sampler.location)
        _set_prop(element, DOMAIN, domain)
        if not (sampler.own.protocol or sampler.defaults.protocol):
            _set_prop(element, PROTOCOL, url.scheme)
        if port and not (sampler.own.port or sampler.defaults.port):
            _set_prop(element, PORT, port)
        if prefix and not sampler.path_is_expression:
            path = sampler.path
            _set_prop(element, PATH, prefix + (path if path.startswith("/") or not path else "/" + path))
        given += 1
    text = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return HostedPlan(text=text, samplers=given)


# --- the walk ------------------------------------------------------------------------------------

MAX_ELEMENT_DEPTH = 400  # XML nesting; bounds the walk's recursion, the copy's and its writing's


def _walk(
    tree: ET.Element, location: tuple[int, ...], outer: Address, in_fragment: bool, samplers: list[Sampler], depth: int
) -> bool:
    """Collect the samplers below the hashTree `tree` (depth 0: the one holding the TestPlan).
    True if a Defaults below the test plan level (in a thread group, a controller ...) names a domain.

    In a hashTree each element is followed by the hashTree of its children; a config
    element applies to its siblings and everything below them. Disabled elements
    (enabled="false") and their subtrees do not run, so they count for nothing.
    """
    children = list(tree)
    pairs = [(i, child, _subtree(children, i)) for i, child in enumerate(children) if child.tag != "hashTree"]
    enabled = [(i, child, sub) for i, child, sub in pairs if _enabled(child)]
    level = Address()  # of this level's Defaults: the first one's values win, as JMeter merges them in order
    for _, child, _ in enabled:
        if _is_defaults(child):
            level = level.under(_address(child))
    scope = level.under(outer)
    scoped_domain = bool(level.domain) and depth >= 2
    for i, child, sub in enabled:
        here = location + (i,)
        fragment = in_fragment or _kind(child) == FRAGMENT
        if _kind(child) in HTTP_SAMPLERS:
            inner = scope
            if sub is not None:  # Defaults among a sampler's own children apply to it alone
                own_level = Address()
                for grandchild in sub:
                    if _is_defaults(grandchild) and _enabled(grandchild):
                        own_level = own_level.under(_address(grandchild))
                inner = own_level.under(scope)
            samplers.append(
                Sampler(
                    name=(child.get("testname") or "").strip() or f"HTTP Request #{len(samplers) + 1}",
                    own=_address(child),
                    defaults=inner,
                    path=_prop(child, PATH),
                    in_fragment=fragment,
                    location=here,
                )
            )
        if sub is not None:
            scoped_domain |= _walk(sub, location + (i + 1,), scope, fragment, samplers, depth + 1)
    return scoped_domain


def _enabled(element: ET.Element) -> bool:
    return element.get("enabled", "true").strip().lower() != "false"


def _subtree(children: list[ET.Element], index: int) -> ET.Element | None:
    following = children[index + 1] if index + 1 < len(children) else None
    return following if following is not None and following.tag == "hashTree" else None


def _kind(element: ET.Element) -> str:
    return element.get("testclass") or element.tag


def _is_defaults(element: ET.Element) -> bool:
    return _kind(element) == "ConfigTestElement" and element.get("guiclass") == HTTP_DEFAULTS_GUI


def _address(element: ET.Element) -> Address:
    return Address(_prop(element, DOMAIN), _prop(element, PROTOCOL), _prop(element, PORT))


def _prop(element: ET.Element, name: str) -> str:
    """A direct property's text, stripped ("" when absent): JMeter trims host fields too."""
    for child in element:
        if child.get("name") == name and child.tag in ("stringProp", "intProp"):
            return (child.text or "").strip()
    return ""


def _set_prop(element: ET.Element, name: str, value: str) -> None:
    for child in element:
        if child.get("name") == name and child.tag in ("stringProp", "intProp"):
            child.tag = "stringProp"
            child.text = value
            return
    prop = ET.SubElement(element, "stringProp", name=name)
    prop.text = value


def _at(root: ET.Element, location: tuple[int, ...]) -> ET.Element:
    element = root
    for index in location:
        element = element[index]
    return element


def _check_depth(root: ET.Element, shown: str) -> None:
    stack = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_ELEMENT_DEPTH:
            raise ScenarioError(f"{shown}: XML nested more than {MAX_ELEMENT_DEPTH} levels deep; not a JMeter plan")
        stack.extend((child, depth + 1) for child in element)


def _refuse_doctype(data: bytes, shown: str) -> None:
    """Read the prolog only: stop at the root element, refuse a DOCTYPE before it."""

    class _Prolog(Exception):
        pass

    def doctype(*_: object) -> None:
        raise ScenarioError(
            f"{shown}: has a DOCTYPE declaration; JMeter plans have none (and DTDs and entities "
            "in uploaded XML are refused)"
        )

    def root_element(*_: object) -> None:
        raise _Prolog

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = doctype
    parser.StartElementHandler = root_element
    try:
        parser.Parse(data, True)
    except _Prolog:
        return
    except expat.ExpatError:
        return  # ElementTree reports it with its position
