#!/usr/bin/env python3
"""The official XenAPI Python SDK's local mode (xapi_local(): XML-RPC over the host's UNIX
socket), run by xenapi-sdk.test.ts against the simulator's socket.

argv: the socket path, the simulator's TCP URL, the SDK folder. The root password comes on
stdin and is used only over TCP: over the socket none is needed.

xapi_local() hard-codes /var/lib/xcp/xapi; the module names the socket by the URL's host with
"/" written as "_" (UDSHTTPConnection.connect), so a Session on "http://<path with _>/" with the
module's transport is xapi_local() for another path. The module copy Debian carries (where the
package index is out of reach) has a UDSTransport.send_request with Python 2's signature, which
Python 3's xmlrpc.client calls with one argument more; there the script pairs the module's
UDSHTTPConnection with the stdlib Transport, and says so. Prints one JSON document.
"""
import inspect
import json
import sys
import xmlrpc.client

socket_path, tcp_url, sdk_dir = sys.argv[1], sys.argv[2], sys.argv[3]
password = sys.stdin.readline().rstrip("\n")
sys.path.insert(0, sdk_dir)
import XenAPI  # noqa: E402


def own_transport_works():
    """False when the module's UDSTransport overrides send_request with fewer parameters
    than Python 3's Transport passes."""
    own = XenAPI.UDSTransport.__dict__.get("send_request")
    if own is None:
        return True
    wanted = len(inspect.signature(xmlrpc.client.Transport.send_request).parameters)
    return len(inspect.signature(own).parameters) >= wanted


class StdlibUDSTransport(xmlrpc.client.Transport):
    """The stdlib transport, connecting through the module's own UDSHTTPConnection."""

    def make_connection(self, host):
        return XenAPI.UDSHTTPConnection(host)


OWN = own_transport_works()


def local_session():
    transport = XenAPI.UDSTransport() if OWN else StdlibUDSTransport()
    return XenAPI.Session("http://%s/" % socket_path.replace("/", "_"), transport=transport)


def failure_of(fn):
    try:
        fn()
    except XenAPI.Failure as f:
        return f.details
    return None


seen = {"transport": "XenAPI.UDSTransport" if OWN else "XenAPI.UDSHTTPConnection with the stdlib Transport"}

# A login over the socket: any password, any user name.
s = local_session()
s.xenapi.login_with_password("root", "not the password", "1.0", "sdk-local")
rec = s.xenapi.session.get_record(s.handle)
seen["login"] = {
    "auth_user_name": rec["auth_user_name"],
    "is_local_superuser": rec["is_local_superuser"],
    "originator": rec["originator"],
    "pools": len(s.xenapi.pool.get_all()),
    "api_version": s.API_version,
}
s.xenapi.session.logout()

# The emergency-mode login: a session outside the database, ended by local_logout (which
# the SDK's logout sends for a slave_local login).
s = local_session()
s.slave_local_login_with_password("root", "")
handle = s.handle
seen["local"] = {
    "pools": len(s.xenapi.pool.get_all()),
    "record": failure_of(lambda: s.xenapi.session.get_record(handle)),
}
s.xenapi.session.logout()
raw = local_session()
after = getattr(raw, "pool.get_all")(handle)
seen["local"]["after_logout"] = after.get("ErrorDescription")
seen["local"]["handle_form"] = handle.startswith("OpaqueRef:")

# Over TCP the password is checked.
t = XenAPI.Session(tcp_url)
seen["tcp_wrong"] = failure_of(lambda: t.slave_local_login_with_password("root", "wrong"))
t.slave_local_login_with_password("root", password)
seen["tcp_pools"] = len(t.xenapi.pool.get_all())
t.xenapi.session.logout()

print(json.dumps(seen))
