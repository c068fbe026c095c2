#!/usr/bin/env python3
"""Python stdlib XML-RPC client run against the simulator by python-xmlrpc.test.ts.

Reads the root password from stdin (never argv), talks to the URL given as argv[1] with
xmlrpc.client only, and prints one JSON document with what it saw. The XenAPI envelope
({Status, Value | ErrorDescription}) is unwrapped here the way the XenAPI.py SDK does it.
"""
import json
import sys
import time
import xmlrpc.client


class Failure(Exception):
    def __init__(self, description):
        super().__init__(description)
        self.description = description


def unwrap(result):
    if not isinstance(result, dict) or "Status" not in result:
        raise RuntimeError("not a XenAPI envelope: %r" % (result,))
    if result["Status"] == "Success":
        return result.get("Value", "")
    raise Failure(result["ErrorDescription"])


def plain(v):
    """JSON-friendly copy (DateTime objects become their text)."""
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, xmlrpc.client.DateTime):
        return {"datetime": v.value}
    return v


def main():
    url = sys.argv[1]
    password = sys.stdin.readline().rstrip("\n")
    proxy = xmlrpc.client.ServerProxy(url + "/")
    out = {}
    call = lambda name, *args: unwrap(getattr(proxy, name)(*args))

    try:
        call("session.login_with_password", "root", password + "-wrong", "1.0", "python-interop")
    except Failure as e:
        out["bad_login"] = e.description

    session = call("session.login_with_password", "root", password, "1.0", "python-interop")
    out["session_prefix"] = session.split(":")[0]

    srs = call("SR.get_all_records", session)
    out["sr_names"] = sorted(r["name_label"] for r in srs.values())
    out["sr_types"] = sorted({type(r["physical_size"]).__name__ for r in srs.values()})

    vms = call("VM.get_all_records_where", session, 'field "is_control_domain" = "false" and field "is_a_template" = "false"')
    out["vm_names"] = sorted(r["name_label"] for r in vms.values())
    ref = call("VM.get_by_name_label", session, "db-01")[0]
    out["lookup_in_where_result"] = ref in vms
    one = call("VM.get_record", session, ref)
    out["vm_record"] = {
        "name_label": one["name_label"],
        "power_state": one["power_state"],
        "is_a_template": one["is_a_template"],
        "memory_static_max": one["memory_static_max"],
        "HVM_shadow_multiplier": one["HVM_shadow_multiplier"],
        "snapshot_time": plain(one["snapshot_time"]),
        "VBD_count": len(one["VBDs"]),
        "other_config": one["other_config"],
        "field_count": len(one),
    }

    # Python sends ints as <int>; XenAPI clients send int64 as strings. Both must work.
    sr_ref = next(r for r, v in srs.items() if v["name_label"] == "Local storage")
    args = {"name_label": "Pool Metadata Backup", "name_description": "", "SR": sr_ref,
            "virtual_size": "1073741824", "type": "user", "sharable": False, "read_only": False,
            "other_config": {}, "xenstore_data": {}, "sm_config": {}, "tags": []}
    task = call("Async.VDI.create", session, args)
    deadline = time.time() + 10
    while call("task.get_status", session, task) == "pending" and time.time() < deadline:
        time.sleep(0.01)
    result = call("task.get_result", session, task)
    (vdi,), _ = xmlrpc.client.loads("<methodResponse><params><param>%s</param></params></methodResponse>" % result)
    out["async_vdi_uuid"] = call("VDI.get_uuid", session, vdi)
    out["sr_uuid"] = srs[sr_ref]["uuid"]
    args2 = dict(args, name_label="small", virtual_size=4096)
    small = call("VDI.create", session, args2)
    out["small_size"] = call("VDI.get_virtual_size", session, small)

    try:
        call("VDI.get_record", session, "OpaqueRef:missing")
    except Failure as e:
        out["handle_invalid"] = e.description

    call("session.logout", session)
    try:
        call("VM.get_all", session)
    except Failure as e:
        out["after_logout"] = e.description[0]

    # XAPI answers system.listMethods with a bare array (no envelope), sync names only
    methods = getattr(proxy, "system.listMethods")()
    out["methods_bare_list"] = isinstance(methods, list) and "VDI.create" in methods
    out["methods_has_async"] = "Async.VDI.create" in methods
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
