#!/usr/bin/env python3
"""VM lifecycle through the official XenAPI Python SDK, run by xenapi-sdk.test.ts.

argv: URL, the folder .ci/run installs the SDK into (pip --target), a VM name. The root
password comes on stdin. When that folder holds no SDK (the package index was out of
reach), the same calls go through Python's stdlib xmlrpc.client with the SDK's envelope
unwrapping (Status/Value/ErrorDescription), and the output says which client ran.
Prints one JSON document with what the client saw.
"""
import json
import sys
import time
import xmlrpc.client

url, sdk_dir, vm_name = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, sdk_dir)
try:
    import XenAPI  # noqa: E402

    CLIENT = "XenAPI"
    Failure = XenAPI.Failure

    def open_session():
        return XenAPI.Session(url)

except ImportError:
    CLIENT = "stdlib"

    class Failure(Exception):
        """Like XenAPI.Failure: the ErrorDescription list is in .details."""

        def __init__(self, details):
            super().__init__(details)
            self.details = details

    class _Call:
        def __init__(self, send, name):
            self._send, self._name = send, name

        def __getattr__(self, part):
            return _Call(self._send, "%s.%s" % (self._name, part))

        def __call__(self, *args):
            return self._send(self._name, args)

    class _Session:
        def __init__(self, address):
            self._proxy = xmlrpc.client.ServerProxy(address)
            self._ref = None
            self.xenapi = self

        def _unwrap(self, result):
            if result["Status"] == "Success":
                return result.get("Value", "")
            raise Failure(result["ErrorDescription"])

        def login_with_password(self, *args):
            self._ref = self._unwrap(self._proxy.session.login_with_password(*args))

        def __getattr__(self, part):
            def send(name, args):
                return self._unwrap(getattr(self._proxy, name)(self._ref, *args))

            return _Call(send, part)

    def open_session():
        return _Session(url)


def failure(fn, *args):
    try:
        fn(*args)
    except Failure as e:
        return list(e.details)
    return None


def wait(session, task):
    deadline = time.time() + 20
    while session.xenapi.task.get_status(task) == "pending":
        if time.time() > deadline:
            raise RuntimeError("task still pending")
        time.sleep(0.02)
    return session.xenapi.task.get_record(task)


def main():
    password = sys.stdin.readline().rstrip("\n")
    out = {"client": CLIENT}
    session = open_session()
    out["bad_login"] = failure(session.xenapi.login_with_password, "root", password + "-x", "2.21", "sdk-interop")
    session = open_session()
    session.xenapi.login_with_password("root", password, "2.21", "sdk-interop")
    x = session.xenapi

    vm = x.VM.get_by_name_label(vm_name)[0]
    record = x.VM.get_record(vm)
    out["before"] = {"power_state": record["power_state"], "start_allowed": "start" in record["allowed_operations"]}
    host = x.host.get_all()[0]
    out["host_is_master"] = x.pool.get_master(x.pool.get_all()[0]) == host

    x.VM.start(vm, False, False)
    record = x.VM.get_record(vm)
    metrics = x.VM_metrics.get_record(record["metrics"])
    out["running"] = {
        "power_state": record["power_state"],
        "resident_on_host": record["resident_on"] == host,
        "domid_positive": int(record["domid"]) > 0,
        "memory_actual": metrics["memory_actual"],
        "clean_shutdown_allowed": "clean_shutdown" in record["allowed_operations"],
    }
    out["start_again"] = failure(x.VM.start, vm, False, False)
    out["unpause_running"] = failure(x.VM.unpause, vm)
    x.VM.pause(vm)
    out["paused"] = x.VM.get_power_state(vm)
    x.VM.unpause(vm)

    task = x.Async.VM.clean_shutdown(vm)
    done = wait(session, task)
    out["async_shutdown"] = {"status": done["status"], "name_label": done["name_label"], "power_state": x.VM.get_power_state(vm)}
    out["hard_shutdown_halted"] = failure(x.VM.hard_shutdown, vm)

    task = x.Async.VM.hard_shutdown(vm)
    done = wait(session, task)
    out["async_failure"] = {"status": done["status"], "error_info": done["error_info"]}

    template = [r for r in x.VM.get_all_records_where('field "is_a_template" = "true"')][0]
    out["template_start"] = failure(x.VM.start, template, False, False)
    out["handle_invalid"] = failure(x.VM.start, "OpaqueRef:nonexistent", False, False)
    out["can_boot_here"] = failure(x.VM.assert_can_boot_here, vm, host)
    x.logout() if CLIENT == "XenAPI" else x.session.logout()
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main()
