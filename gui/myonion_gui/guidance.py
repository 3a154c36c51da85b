"""What to do with an address: the link to give out and how to open it, in plain words.

A web service's address is offered as ``http://….onion/`` (what Tor Browser opens); other
services as the bare address with the command that reaches them. A service on the test network
is said to be reachable only from this computer, since no Tor Browser can get there.
"""

from __future__ import annotations

from myonion.manager import ServiceView
from myonion.templates import TemplateSpec

TOR_BROWSER = "https://www.torproject.org/download/"
NETWORK_WORDS = {"tor": "public Tor network", "local": "test network"}


def is_web(template: TemplateSpec | None) -> bool:
    """Does the service's first onion port speak HTTP (so a browser can open it)?"""
    return template is not None and bool(template.ports) and template.ports[0].protocol == "http"


def link(view: ServiceView, template: TemplateSpec | None) -> str:
    """The address as the user should pass it on ("" while there is none)."""
    if not view.address:
        return ""
    if not is_web(template):
        return view.address
    assert template is not None
    port = template.ports[0].virtual
    return f"http://{view.address}{'' if port == 80 else f':{port}'}/"


def network_words(network: str) -> str:
    return NETWORK_WORDS.get(network, f"{network} network")


def how_to_open(view: ServiceView, template: TemplateSpec | None) -> str:
    """One or two sentences (rich text) under the address: what to do with it."""
    if not view.address:
        return ""
    if view.network == "local":
        return ("This address is on the <b>test network</b>: it exists only on this computer, "
                "so Tor Browser cannot open it. <i>Check reachability</i> fetches it through "
                "the test network's own tor client.")
    if is_web(template):
        text = (f"Open it in <a href='{TOR_BROWSER}'>Tor Browser</a>: paste the link into its "
                "address bar (an ordinary browser cannot open .onion addresses).")
        if view.private:
            text += (" It is <b>private</b>: Tor Browser asks for a key — give each person the "
                     "key of their own client (the <i>Clients</i> tab).")
        return text
    port = template.ports[0].virtual if template is not None and template.ports else None
    if template is not None and template.id == "ssh":
        return (f"Connect through tor, e.g. <tt>torsocks ssh USER@{view.address}</tt> (any "
                "ssh with a tor SOCKS proxy works).")
    where = f"port {port} of this address" if port else "this address"
    return f"Any tor client can connect to {where}, e.g. with <tt>torsocks</tt>."
