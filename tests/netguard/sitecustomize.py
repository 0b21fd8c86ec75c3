"""Netguard: block and record every outbound (non-loopback) connection a Python process attempts.

Used by the "nothing leaves the premises" tests. Put this directory on ``PYTHONPATH`` and set
``RAFIQ_NETGUARD_LOG`` to a file path; Python's ``site`` module then imports this file at start-up
and it installs an audit hook (``sys.addaudithook``, PEP 578) that watches:

* ``socket.connect`` (also raised by ``connect_ex``), ``socket.sendto``, ``socket.sendmsg``:
  the target must be loopback: 127.0.0.0/8, ::1 (also IPv4-mapped), the unspecified address
  (which Linux connects to this host), the name ``localhost``, an AF_UNIX path or a netlink
  address (kernel-local). Anything else, including a host *name* given straight to ``connect``
  (which resolves it internally), is blocked. CPython resolves such a name *before* raising the
  audit event, so ``socket.socket``'s four methods are also wrapped to check first.
* ``socket.getaddrinfo``, ``socket.gethostbyname``, ``socket.gethostbyname_ex``,
  ``socket.gethostbyaddr``, ``socket.getnameinfo``: resolving a name other than ``localhost`` or
  this machine's own host name (``socket.getfqdn()`` looks that up) may send a DNS query, so it
  is blocked; IP literals resolve without any lookup and pass (the connection that follows is
  checked on its own), except reverse lookups of non-loopback IPs.

A blocked call appends one JSON line ``{"event", "address", "pid", "stack"}`` to the log file and
raises ``PermissionError("outbound connection blocked by netguard")`` *before* the operation runs,
so no packet leaves the machine. ``PermissionError`` is an ``OSError``, so HTTP clients report it
as an ordinary connection failure. Audit hooks are process-wide, so every thread is covered; child
processes are covered when they inherit the environment (``PYTHONPATH`` containing this directory
and ``RAFIQ_NETGUARD_LOG``) and are not started with ``-I``, ``-E`` or ``-S``.

Limits: only calls that go through CPython's ``socket`` module are seen (a name passed straight
to the low-level ``_socket.socket.connect`` is resolved before the hook sees it). Native code that opens
sockets itself (a C/Rust HTTP client inside an extension module, a non-Python child process) is
invisible to audit hooks; run the whole test in a network namespace without a route (for example
``unshare -n``) when that matters.

``RAFIQ_NETGUARD_PROBE`` (a file path, optional): once the hook is installed, one JSON line
``{"event": "loaded", "pid", "log"}`` is appended there, so a test can prove that the guard is live
in the very process it watches (an empty log means something only if the hook was there).

With ``RAFIQ_NETGUARD_LOG`` unset this module does nothing at all, apart from running any other
``sitecustomize`` further down ``sys.path`` (this one shadows it, so it is loaded by path first).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _chain_shadowed_sitecustomize() -> None:
    """Run the sitecustomize this file shadows (e.g. a venv's or the interpreter's), if any."""
    paths = []
    for entry in sys.path:
        try:
            if os.path.samefile(entry or os.getcwd(), _HERE):
                continue
        except OSError:
            pass
        paths.append(entry)
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", paths)
    if spec is None or spec.loader is None or spec.origin == __file__:
        return
    module = importlib.util.module_from_spec(spec)
    sys.modules["_netguard_chained_sitecustomize"] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the same leniency site.py shows a failing sitecustomize
        print(f"netguard: error in chained sitecustomize {spec.origin}: {exc!r}", file=sys.stderr)


_chain_shadowed_sitecustomize()

LOG_PATH = os.environ.get("RAFIQ_NETGUARD_LOG") or None
ACTIVE = False

if LOG_PATH:
    import ipaddress
    import json
    import socket
    import threading

    _CONNECT_EVENTS = frozenset({"socket.connect", "socket.connect_ex", "socket.sendto", "socket.sendmsg"})
    _RESOLVE_EVENTS = frozenset({"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                                 "socket.gethostbyaddr", "socket.getnameinfo"})
    _LOCAL_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})
    _LOCAL_FAMILIES = frozenset(
        getattr(socket, name) for name in ("AF_UNIX", "AF_NETLINK") if hasattr(socket, name)
    )
    _IP_FAMILIES = frozenset({socket.AF_INET, socket.AF_INET6})
    _OWN_NAME = socket.gethostname().lower()  # resolved from /etc/hosts (e.g. by socket.getfqdn)
    _busy = threading.local()

    def _text(host: object) -> str | None:
        if isinstance(host, (bytes, bytearray)):
            return bytes(host).decode("idna", "replace")
        return host if isinstance(host, str) else None

    def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        try:
            return ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return None

    def _ip_is_local(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return ip.is_loopback or ip.is_unspecified

    def _host_is_local(host: object) -> bool:
        """A host given to connect/sendto: loopback literal, unspecified, or the name localhost."""
        text = _text(host)
        if text is None:
            return False
        if text == "" or text.lower() in _LOCAL_NAMES:
            return True
        ip = _ip(text)
        return ip is not None and _ip_is_local(ip)

    def _name_is_local(host: object, *, literal_ok: bool) -> bool:
        """A host given to a resolver: None/empty, localhost, this machine's own name, a loopback
        IP, or (for forward lookups, ``literal_ok``) any IP literal: none of these asks DNS."""
        if host is None:
            return True
        text = _text(host)
        if text is None:
            return False
        if text == "" or text.lower() in _LOCAL_NAMES or text.lower() == _OWN_NAME:
            return True
        ip = _ip(text)
        return ip is not None and (literal_ok or _ip_is_local(ip))

    def _target_is_local(sock: object, address: object) -> bool:
        family = getattr(sock, "family", None)
        if family in _LOCAL_FAMILIES or isinstance(address, (str, bytes, bytearray)):
            return True  # AF_UNIX path (or abstract name) / netlink: never leaves the kernel
        if family is not None and family not in _IP_FAMILIES:
            return False  # AF_PACKET, AF_CAN, Bluetooth...: not loopback
        if isinstance(address, tuple) and address:
            return _host_is_local(address[0])
        return False

    def _jsonable(value: object) -> object:
        if isinstance(value, (bytes, bytearray)):
            return bytes(value).decode("utf-8", "backslashreplace")
        if isinstance(value, (tuple, list)):
            return [_jsonable(v) for v in value]
        if value is None or isinstance(value, (str, int, float, bool)):
            return value
        return repr(value)

    def _short_stack() -> list[str]:
        frames = []
        frame = sys._getframe(1)
        while frame is not None and len(frames) < 8:
            code = frame.f_code
            if code.co_filename != __file__:
                frames.append(f"{os.path.basename(code.co_filename)}:{frame.f_lineno}:{code.co_name}")
            frame = frame.f_back
        return frames[::-1]  # outermost first, the failing call last

    def _record(event: str, address: object) -> None:
        line = json.dumps({"event": event, "address": _jsonable(address), "pid": os.getpid(),
                           "stack": _short_stack()}) + "\n"
        try:
            fd = os.open(LOG_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            print(f"netguard: cannot write {LOG_PATH}: {exc!r}; blocked {line.strip()}", file=sys.stderr)

    def _block(event: str, address: object) -> None:
        _busy.active = True
        try:
            _record(event, address)
        finally:
            _busy.active = False
        raise PermissionError("outbound connection blocked by netguard")

    def _check_target(event: str, sock: object, address: object) -> None:
        try:
            allowed = _target_is_local(sock, address)
        except Exception:  # fail closed
            allowed = False
        if not allowed:
            _block(event, address)

    def _netguard_hook(event: str, args: tuple) -> None:
        if not event.startswith("socket.") or getattr(_busy, "active", False):
            return
        if event in _CONNECT_EVENTS:
            sock, address = (args[0], args[1]) if len(args) >= 2 else (None, args[0] if args else None)
            if address is not None:  # None: sendmsg on a connected socket, whose connect was checked
                _check_target(event, sock, address)
        elif event in _RESOLVE_EVENTS:
            if event == "socket.getnameinfo":  # args: (sockaddr, flags)
                host = args[0][0] if args and isinstance(args[0], tuple) and args[0] else None
            else:
                host = args[0] if args else None
            # A reverse lookup of an IP asks DNS unless the IP is loopback; a forward lookup of an
            # IP literal asks nobody.
            reverse = event in ("socket.gethostbyaddr", "socket.getnameinfo")
            try:
                allowed = _name_is_local(host, literal_ok=not reverse)
            except Exception:  # fail closed
                allowed = False
            if not allowed:
                _block(event, [_jsonable(host), args[1]] if event == "socket.getaddrinfo" and len(args) >= 2 else host)

    # CPython resolves a host name given to connect()/sendto() *before* it raises the audit event,
    # so the hook alone would let that DNS query out. The socket.socket methods are therefore also
    # checked in Python, before the C code runs.
    def _guard_method(name: str, event: str, address_of) -> None:
        original = getattr(socket.socket, name)

        def guarded(self, *args):
            address = address_of(args)
            if address is not None and not getattr(_busy, "active", False):
                _check_target(event, self, address)
            return original(self, *args)

        guarded.__name__ = guarded.__qualname__ = name
        guarded.__doc__ = original.__doc__
        setattr(socket.socket, name, guarded)

    _guard_method("connect", "socket.connect", lambda a: a[0] if a else None)
    _guard_method("connect_ex", "socket.connect", lambda a: a[0] if a else None)
    _guard_method("sendto", "socket.sendto", lambda a: a[-1] if len(a) >= 2 else None)
    _guard_method("sendmsg", "socket.sendmsg", lambda a: a[3] if len(a) >= 4 else None)
    sys.addaudithook(_netguard_hook)
    ACTIVE = True

    _PROBE_PATH = os.environ.get("RAFIQ_NETGUARD_PROBE")
    if _PROBE_PATH:
        _fd = os.open(_PROBE_PATH, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(_fd, (json.dumps({"event": "loaded", "pid": os.getpid(), "log": LOG_PATH}) + "\n").encode())
        finally:
            os.close(_fd)
