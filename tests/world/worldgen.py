#!/usr/bin/python3
"""worldgen.py - generate the daneguard test world from tests/world/cases.toml.

Writes everything into one run directory (never into the source tree):
  certs/         CA and leaf keys/certificates, server chain files
  zones/<srv>/   zone files per authoritative server, signed with ldns-signzone
  keys/          DNSSEC keys (ldns-keygen), trust-anchor.ds (the world's root DS)
  nsd/<srv>/     one NSD configuration per name server address
  unbound/       validating resolver configuration (127.0.0.1:53 in the namespace)
  postfix/       one private Postfix instance: a smtpd listener per MX address; the
                 "receiver" listeners accept mail for their case domain and virtual(8)
                 stores it in mail/<domain>/ (Maildir)
  mail/          the receivers' mailboxes (tests/world/mailbox reads them)
  bad/           configuration of the misbehaving servers (badsmtp.py, badhttps.py)
                 and of the attacker proxies (mitm.py: bad/mitm.json)
  https/         nginx configuration and document roots of the MTA-STS policy hosts
  https-ca.pem   the CA(s) marked https_ca = true: daneguard --ca-file
  peer/          main.cf for posttls-finger, the reference peer
  manifest.json  every case with its FQDNs, addresses and expected results

Cases are data: see cases.toml and README.md in this directory. The generator
is deterministic apart from key material; it runs key generation and signing
in parallel (2 cores bring ~50 zones up in a few seconds).
"""
import concurrent.futures as futures
import hashlib
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
import tomllib

NS_ADDR = {
    "root": "127.53.0.1",   # the root zone
    "tld": "127.53.0.2",    # test.
    "cases": "127.53.0.3",  # <case>.test.
    "subs": "127.53.0.4",   # child zones below case zones
    "lame": "127.53.0.99",  # serves no zone: answers REFUSED, so lame delegations SERVFAIL fast
}
LAME_ADDR = NS_ADDR["lame"]
SIGN_MODES = ("signed", "unsigned", "expired", "bad-ds", "lame", "lame-signed")
SERVER_KINDS = ("postfix", "receiver", "closed", "silent", "nostarttls", "refuse-starttls",
                "tlsfail", "split", "tempfail", "https", "https-slow", "https-stream",
                "https-collector",
                "strip-starttls", "forged-cert")
# smtpd listeners of the world's Postfix instance ("receiver" accepts and stores mail)
POSTFIX_KINDS = ("postfix", "receiver")
# attacker proxies (mitm.py) in front of a real server of the same case (`upstream`)
MITM_KINDS = ("strip-starttls", "forged-cert")
# HTTPS servers (port 443): "https" is nginx, the others badhttps.py
HTTPS_KINDS = ("https", "https-slow", "https-stream", "https-collector")
HTTPS_KEYS = ("policy", "status", "redirect", "content_type", "pad")
PLACEHOLDER = re.compile(r"\{(addr6?|tlsa):([^}]*)\}")


def run(cmd, cwd=None, stdin=None):
    """Run a command, return stdout as str; raise with stderr on failure."""
    p = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True)
    if p.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd), p.stderr.decode(errors="replace")))
    return p.stdout


class World:
    def __init__(self, src, rundir):
        with open(src, "rb") as f:
            self.spec = tomllib.load(f)
        self.run = os.path.abspath(rundir)
        self.pool = futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2)
        self.certs = {}      # name -> dict(pem=path, key=path, chain=path)
        self.manifest = {"cases": [], "ns": NS_ADDR, "resolver": "127.0.0.1"}

    # ----------------------------------------------------------- certificates
    def gen_key(self, path, kind):
        if kind == "rsa":
            run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                 "rsa_keygen_bits:2048", "-out", path])
        elif kind == "ec":
            run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-out", path])
        else:
            raise ValueError("key type %r: want rsa or ec" % kind)

    def sign_cert(self, name, c, issuer):
        """Issue cert `name` with openssl ca (start/end dates settable)."""
        d = os.path.join(self.run, "certs", name + ".ca")
        os.makedirs(d, exist_ok=True)
        key = os.path.join(self.run, "certs", name + ".key")
        pem = os.path.join(self.run, "certs", name + ".pem")
        self.gen_key(key, c.get("key", "ec"))
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "serial"), "w") as f:
            f.write(os.urandom(8).hex() + "\n")
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca=dg\n[dg]\ndir=%s\ndatabase=%s/index.txt\n"
                    "new_certs_dir=%s\nserial=%s/serial\ndefault_md=sha256\n"
                    "policy=pol\nunique_subject=no\nemail_in_dn=no\n"
                    "[pol]\ncommonName=supplied\n" % (d, d, d, d))
        ext = ["[v3]"]
        if c.get("ca"):
            ext.append("basicConstraints=critical,CA:TRUE")
            ext.append("keyUsage=critical,keyCertSign,cRLSign")
        else:
            ext.append("basicConstraints=critical,CA:FALSE")
            ext.append("keyUsage=critical,digitalSignature,keyEncipherment")
            ext.append("extendedKeyUsage=serverAuth")
        if c.get("san"):
            ext.append("subjectAltName=" + ",".join("DNS:" + s for s in c["san"]))
        ext.append("subjectKeyIdentifier=hash")
        with open(os.path.join(d, "ext.cnf"), "w") as f:
            f.write("\n".join(ext) + "\n")
        csr = os.path.join(d, "req.csr")
        run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=" + c["cn"], "-out", csr])
        start, end = c.get("valid", ["-1d", "+825d"])
        cmd = ["openssl", "ca", "-batch", "-notext", "-config", os.path.join(d, "ca.cnf"),
               "-extfile", os.path.join(d, "ext.cnf"), "-extensions", "v3",
               "-startdate", asn1_time(start), "-enddate", asn1_time(end),
               "-in", csr, "-out", pem]
        if issuer is None:
            cmd += ["-selfsign", "-keyfile", key]
        else:
            cmd += ["-cert", self.certs[issuer]["pem"], "-keyfile", self.certs[issuer]["key"]]
        run(cmd)
        self.certs[name] = {"pem": pem, "key": key, "issuer": issuer}

    def gen_certs(self):
        os.makedirs(os.path.join(self.run, "certs"), exist_ok=True)
        todo = dict(self.spec.get("cert", {}))
        # issue in dependency order: a wave is every cert whose issuer exists
        while todo:
            wave = [n for n, c in todo.items()
                    if c.get("issuer", "self") == "self" or c["issuer"] in self.certs]
            if not wave:
                raise ValueError("cert issuers form a cycle or are missing: %s" % sorted(todo))
            jobs = [self.pool.submit(self.sign_cert, n, todo[n],
                                     None if todo[n].get("issuer", "self") == "self"
                                     else todo[n]["issuer"]) for n in wave]
            for j in jobs:
                j.result()
            for n in wave:
                del todo[n]
        for name in self.certs:
            self.certs[name]["chainlist"] = self.chain_of(name)

    def chain_of(self, name):
        out, n = [], name
        while n is not None:
            out.append(n)
            n = self.certs[n]["issuer"]
        return out

    def chain_file(self, cert, send):
        """Key followed by the certificates the server sends (Postfix chain file).

        send: "leaf" | "chain" (leaf + intermediates, no self-signed root) |
        "full" (leaf up to and including the root)."""
        chain = self.chain_of(cert)
        if send == "leaf":
            chain = chain[:1]
        elif send == "chain":
            chain = chain[:-1] if len(chain) > 1 else chain
        elif send != "full":
            raise ValueError("send=%r: want leaf, chain or full" % send)
        path = os.path.join(self.run, "certs", "%s.%s.chain.pem" % (cert, send))
        with open(path, "w") as f:
            f.write(open(self.certs[cert]["key"]).read())
            for c in chain:
                f.write(open(self.certs[c]["pem"]).read())
        return path

    def tlsa_data(self, spec):
        """'3 1 1:certname' -> '3 1 1 <hex>'."""
        params, cert = spec.rsplit(":", 1)
        u, s, m = (int(x) for x in params.split())
        pem = self.certs[cert]["pem"]
        der = run(["openssl", "x509", "-in", pem, "-outform", "DER"])
        if s == 1:
            pub = run(["openssl", "x509", "-in", pem, "-pubkey", "-noout"])
            der = run(["openssl", "pkey", "-pubin", "-outform", "DER"], stdin=pub)
        data = {0: lambda b: b, 1: lambda b: hashlib.sha256(b).digest(),
                2: lambda b: hashlib.sha512(b).digest()}[m](der)
        return "%d %d %d %s" % (u, s, m, data.hex())

    # ------------------------------------------------------------------ zones
    def plan(self):
        """Allocate addresses and collect zones from the cases."""
        self.zones = {}          # fqdn -> dict(server, mode, records, parent, corrupt)
        self.zones["."] = {"server": "root", "mode": "signed", "records": [], "parent": None}
        self.zones["test."] = {"server": "tld", "mode": "signed", "records": [], "parent": "."}
        tld = self.zones["test."]["records"]
        self.zones["."]["records"] += [
            ". 86400 IN NS root-ns.test.",
            "root-ns.test. 86400 IN A %s" % NS_ADDR["root"]]
        tld += ["root-ns.test. 3600 IN A %s" % NS_ADDR["root"],
                "ns.test. 3600 IN A %s" % NS_ADDR["tld"],
                "ns-cases.test. 3600 IN A %s" % NS_ADDR["cases"],
                "ns-subs.test. 3600 IN A %s" % NS_ADDR["subs"],
                "ns-lame.test. 3600 IN A %s" % LAME_ADDR]
        self.servers = []        # dict(addr, kind, certs, send, case, host)
        names = set()
        for ci, case in enumerate(self.spec["case"], start=1):
            cname = case["name"]
            if cname in names or not re.fullmatch(r"[a-z0-9-]+", cname):
                raise ValueError("case %r: duplicate or not a plain label" % cname)
            names.add(cname)
            origin = cname + ".test."
            addrs, addrs6 = {}, {}
            for hi, h in enumerate(case.get("server", []), start=1):
                kind = h.get("kind", "postfix")
                if kind not in SERVER_KINDS:
                    raise ValueError("case %s server %s: kind %r unknown" % (cname, h["host"], kind))
                addr = h.get("addr", "127.0.%d.%d" % (ci, hi))
                addrs[h["host"]] = addr
                if h.get("ipv6"):
                    addrs6[h["host"]] = "::1"
                srv = {"addr": addr, "kind": kind, "certs": h.get("certs", []),
                       "send": h.get("send", "chain"), "case": cname,
                       "host": h["host"], "ipv6": bool(h.get("ipv6")),
                       "fqdn": fqdn(h["host"], origin)}
                if kind in HTTPS_KINDS:
                    srv.update({k: h[k] for k in HTTPS_KEYS if k in h})
                if kind in MITM_KINDS:
                    if "upstream" not in h:
                        raise ValueError("case %s server %s: kind %s needs upstream = HOST"
                                         % (cname, h["host"], kind))
                    srv["upstream_host"] = h["upstream"]
                    srv["log"] = os.path.join(self.run, "mitm-%s.log" % srv["fqdn"])
                self.servers.append(srv)
            for srv in self.servers:
                if srv["case"] == cname and "upstream_host" in srv:
                    up = [s for s in self.servers if s["case"] == cname
                          and s["host"] == srv["upstream_host"]]
                    if not up or up[0]["kind"] not in POSTFIX_KINDS:
                        raise ValueError("case %s server %s: upstream %r is no postfix or "
                                         "receiver server of the case"
                                         % (cname, srv["host"], srv["upstream_host"]))
                    srv["upstream"] = up[0]["addr"]
            zmodes = case.get("zones", {"@": "signed"})
            for rel, mode in zmodes.items():
                if mode not in SIGN_MODES:
                    raise ValueError("case %s zone %s: mode %r unknown" % (cname, rel, mode))
                fq = origin if rel == "@" else "%s.%s" % (rel, origin)
                parent = "test." if rel == "@" else self.parent_zone(fq, set(
                    origin if r == "@" else "%s.%s" % (r, origin) for r in zmodes))
                self.zones[fq] = {"server": "cases" if rel == "@" else "subs", "mode": mode,
                                  "records": [], "parent": parent,
                                  "corrupt": case.get("corrupt", []) if rel == "@" else
                                  case.get("corrupt_" + rel.replace(".", "_"), [])}
            for line in case.get("records", []):
                line = PLACEHOLDER.sub(lambda m: self.subst(m, addrs, addrs6, cname), line)
                owner, rest = line.split(None, 1)
                fq = origin if owner == "@" else (owner if owner.endswith(".")
                                                 else "%s.%s" % (owner, origin))
                zone = self.zone_for(fq)
                self.zones[zone]["records"].append("%s 300 IN %s" % (fq, rest))
            self.manifest["cases"].append({
                "name": cname, "domain": cname + ".test", "desc": case.get("desc", ""),
                "verdict": case.get("verdict"), "mx": mx_list(case, origin),
                "expect": fq_keys(case.get("expect", {}), origin),
                "peer": fq_keys(case.get("peer", {}), origin), "peer_note": case.get("peer_note", ""),
                "servers": [s for s in self.servers if s["case"] == cname],
                "demo": bool(case.get("demo")),
                "sts": case.get("sts"), "tlsrpt": case.get("tlsrpt"),
                "senders": case.get("senders"),
                "sts_hosts": fq_keys(case.get("sts_hosts", {}), origin)})

    def subst(self, m, addrs, addrs6, cname):
        kind, arg = m.group(1), m.group(2)
        if kind == "addr":
            if arg not in addrs:
                raise ValueError("case %s: {addr:%s} names no server" % (cname, arg))
            return addrs[arg]
        if kind == "addr6":
            return addrs6[arg]
        return self.tlsa_data(arg)

    def parent_zone(self, fq, candidates):
        best = "test."
        for z in candidates:
            if fq != z and fq.endswith("." + z) and len(z) > len(best):
                best = z
        return best

    def zone_for(self, fq):
        best = "."
        for z in self.zones:
            if (fq == z or fq.endswith("." + z) or z == ".") and len(z) > len(best):
                best = z
        return best

    def keygen(self, zone):
        kd = os.path.join(self.run, "keys", zone.rstrip(".") or "root")
        os.makedirs(kd, exist_ok=True)
        base = run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone], cwd=kd).decode().strip()
        ds = run(["ldns-key2ds", "-n", "-2", base + ".key"], cwd=kd).decode().strip()
        self.zones[zone]["key"] = os.path.join(kd, base)
        self.zones[zone]["ds"] = ds
        if self.zones[zone]["mode"] == "bad-ds":   # DS of a key the zone never uses
            other = run(["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", zone], cwd=kd).decode().strip()
            self.zones[zone]["ds"] = run(["ldns-key2ds", "-n", "-2", other + ".key"],
                                         cwd=kd).decode().strip()

    def delegate(self):
        """Add NS (+DS for signed children) records to each parent zone."""
        for zone, z in self.zones.items():
            if z["parent"] is None:
                continue
            p = self.zones[z["parent"]]["records"]
            ns = {"root": "root-ns.test.", "tld": "ns.test.", "cases": "ns-cases.test.",
                  "subs": "ns-subs.test."}[z["server"]]
            if z["mode"] in ("lame", "lame-signed"):
                ns = "ns-lame.test."
            p.append("%s 3600 IN NS %s" % (zone, ns))
            if zone == "test.":
                p.append("ns.test. 3600 IN A %s" % NS_ADDR["tld"])
            if z["mode"] not in ("unsigned", "lame"):
                p.append(z["ds"].replace("\t", " "))

    def write_zone(self, zone):
        z = self.zones[zone]
        d = os.path.join(self.run, "zones", z["server"])
        os.makedirs(d, exist_ok=True)
        fname = (zone.rstrip(".") or "root") + ".zone"
        path = os.path.join(d, fname)
        ns = {"root": "root-ns.test.", "tld": "ns.test.", "cases": "ns-cases.test.",
              "subs": "ns-subs.test."}[z["server"]]
        with open(path, "w") as f:
            f.write("$ORIGIN %s\n$TTL 300\n" % zone)
            f.write("%s 300 IN SOA %s hostmaster.test. 1 3600 600 86400 60\n" % (zone, ns))
            if zone != ".":
                f.write("%s 3600 IN NS %s\n" % (zone, ns))
            for r in z["records"]:
                f.write(r + "\n")
        z["file"] = fname
        if z["mode"] in ("unsigned", "lame"):
            z["served"] = fname
            return
        cmd = ["ldns-signzone", "-n", "-f", path + ".signed"]
        if z["mode"] == "expired":
            cmd += ["-i", "20200101000000", "-e", "20200201000000"]
        else:
            cmd += ["-e", "20380101000000"]
        run(cmd + [path, z["key"]])
        for c in z.get("corrupt", []):
            corrupt_rrsig(path + ".signed", zone, c)
        z["served"] = fname + ".signed"

    def gen_zones(self):
        list(self.pool.map(self.keygen, list(self.zones)))
        self.delegate()
        list(self.pool.map(self.write_zone, list(self.zones)))
        shutil.copy(os.path.join(os.path.dirname(self.zones["."]["key"]),
                                 os.path.basename(self.zones["."]["key"]) + ".key"),
                    os.path.join(self.run, "keys", "root.dnskey"))
        with open(os.path.join(self.run, "trust-anchor.ds"), "w") as f:
            f.write(self.zones["."]["ds"] + "\n")

    # ---------------------------------------------------------------- daemons
    def gen_nsd(self):
        for srv, addr in NS_ADDR.items():
            d = os.path.join(self.run, "nsd", srv)
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, "nsd.conf"), "w") as f:
                f.write("server:\n  ip-address: %s\n  port: 53\n  zonesdir: \"%s\"\n"
                        "  pidfile: \"%s/nsd.pid\"\n  database: \"\"\n  username: \"\"\n"
                        "  chroot: \"\"\n  logfile: \"%s/nsd.log\"\n  server-count: 1\n"
                        "  verbosity: 1\n  hide-version: yes\n  zonelistfile: \"%s/zone.list\"\n"
                        "  xfrdfile: \"%s/xfrd.state\"\n  xfrdir: \"%s\"\n  do-ip6: no\n"
                        "  reuseport: no\n  refuse-any: yes\nremote-control:\n"
                        "  control-enable: no\n" % (addr, os.path.join(self.run, "zones", srv),
                                                     d, d, d, d, d))
                for zone, z in sorted(self.zones.items()):
                    if z["server"] == srv:
                        f.write("zone:\n  name: \"%s\"\n  zonefile: \"%s\"\n" % (zone, z["served"]))
            os.makedirs(os.path.join(self.run, "zones", srv), exist_ok=True)

    def gen_unbound(self):
        d = os.path.join(self.run, "unbound")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "root.hints"), "w") as f:
            f.write(". 3600000 NS root-ns.test.\nroot-ns.test. 3600000 A %s\n" % NS_ADDR["root"])
        with open(os.path.join(d, "unbound.conf"), "w") as f:
            f.write("""server:
  interface: 127.0.0.1
  interface: ::1
  port: 53
  do-ip6: yes
  do-not-query-localhost: no
  access-control: 127.0.0.0/8 allow
  access-control: ::1/128 allow
  root-hints: "{d}/root.hints"
  trust-anchor-file: "{run}/trust-anchor.ds"
  module-config: "validator iterator"
  local-zone: "test." nodefault
  username: ""
  chroot: ""
  directory: "{d}"
  pidfile: "{d}/unbound.pid"
  use-syslog: no
  logfile: "{d}/unbound.log"
  verbosity: 1
  val-log-level: 2
  ede: yes
  num-threads: 1
  trust-anchor-signaling: no
  root-key-sentinel: no
  harden-referral-path: no
  qname-minimisation: no
  aggressive-nsec: no
  cache-max-ttl: 60
  cache-max-negative-ttl: 10
  infra-host-ttl: 10
remote-control:
  control-enable: no
""".format(d=d, run=self.run))

    def gen_mail(self, d):
        """Maps of the receivers: which domains virtual(8) stores, in which Maildir, and per
        receiver listener the one domain it accepts. Returns {addr: restriction file}."""
        mail = os.path.join(self.run, "mail")
        receivers = [s for s in self.servers if s["kind"] == "receiver"]
        domains = sorted({s["case"] + ".test" for s in receivers})
        for dom in domains:
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(mail, dom, sub), exist_ok=True)
        os.makedirs(mail, exist_ok=True)
        os.makedirs(os.path.join(d, "rcpt"), exist_ok=True)
        with open(os.path.join(d, "mailbox.regexp"), "w") as f:
            for dom in domains:  # a trailing "/" makes virtual(8) write a Maildir
                f.write("/@%s$/ %s/\n" % (re.escape(dom), dom))
        with open(os.path.join(d, "domains"), "w") as f:
            f.write("".join("%s\n" % dom for dom in domains))
        access = {}
        for s in receivers:
            path = os.path.join(d, "rcpt", s["addr"] + ".regexp")
            with open(path, "w") as f:
                f.write("/@%s$/ OK\n" % re.escape(s["case"] + ".test"))
            access[s["addr"]] = path
        return access

    def gen_postfix(self):
        d = os.path.join(self.run, "postfix")
        for sub in ("queue", "data"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        access = self.gen_mail(d)
        with open(os.path.join(d, "main.cf"), "w") as f:
            f.write("""compatibility_level = 3.6
queue_directory = {d}/queue
data_directory = {d}/data
mail_owner = postfix
myhostname = smtpd.world.test
mydestination =
inet_interfaces = all
inet_protocols = all
smtpd_banner = $myhostname ESMTP daneguard-world
smtpd_recipient_restrictions = reject
smtpd_relay_restrictions = reject
smtpd_peername_lookup = no
alias_maps =
alias_database =
smtpd_tls_security_level = may
smtpd_tls_loglevel = 1
smtpd_tls_received_header = yes
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
# receivers: virtual(8) stores the mail of their case domains in {mail}/<domain>/ (as
# the postfix user: the run directory must be reachable for it)
virtual_mailbox_domains = {d}/domains
virtual_mailbox_base = {mail}
virtual_mailbox_maps = regexp:{d}/mailbox.regexp
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
virtual_transport = virtual
default_transport = error:the test world delivers to its receivers only
relay_transport = error:the test world delivers to its receivers only
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
""".format(d=d, mail=os.path.join(self.run, "mail"), uid=pwd.getpwnam("postfix").pw_uid,
           gid=pwd.getpwnam("postfix").pw_gid))
        # the internal services smtpd talks to (no chroot: paths are in RUNDIR)
        lines = ["postlog unix-dgram n - n - 1 postlogd",
                 "anvil unix - - n - 1 anvil",
                 "tlsmgr unix - - n 1000? 1 tlsmgr",
                 "scache unix - - n - 1 scache",
                 "proxymap unix - - n - - proxymap",
                 "proxywrite unix - - n - 1 proxymap",
                 "rewrite unix - - n - - trivial-rewrite",
                 "cleanup unix n - n - 0 cleanup",
                 "qmgr unix n - n 300 1 qmgr",
                 "bounce unix - - n - 0 bounce",
                 "defer unix - - n - 0 bounce",
                 "trace unix - - n - 0 bounce",
                 "verify unix - - n - 1 verify",
                 "flush unix n - n 1000? 0 flush",
                 "showq unix n - n - - showq",
                 "error unix - - n - - error",
                 "retry unix - - n - - error",
                 "discard unix - - n - - discard",
                 "virtual unix - n n - - virtual"]
        for s in self.servers:
            if s["kind"] not in POSTFIX_KINDS:
                continue
            files = ",".join(self.chain_file(c, s["send"]) for c in s["certs"])
            opt = " -o smtpd_tls_chain_files=%s" % files if files else \
                " -o smtpd_tls_security_level=none"
            if s["kind"] == "receiver":
                # accept mail for the case domain only; name the receiver in Received: "by"
                rule = "check_recipient_access regexp:%s, reject" % access[s["addr"]]
                opt += (" -o myhostname=%s -o { smtpd_recipient_restrictions = %s }"
                        " -o { smtpd_relay_restrictions = %s }" % (s["fqdn"], rule, rule))
            lines.append("%s:25 inet n - n - - smtpd%s" % (s["addr"], opt))
            if s["ipv6"]:
                lines.append("[::1]:25 inet n - n - - smtpd%s" % opt)
        with open(os.path.join(d, "master.cf"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def gen_forged(self):
        """Forged certificates for the forged-cert proxies: self-signed, fresh key, the same
        names (CN, SAN) and key type as the first certificate of the real server behind."""
        jobs = []
        for s in self.servers:
            if s["kind"] != "forged-cert" or s["certs"]:
                continue
            real = [u for u in self.servers if u["case"] == s["case"]
                    and u["addr"] == s["upstream"]][0]
            if not real["certs"]:
                raise ValueError("case %s: forged-cert %s: the real server %s has no "
                                 "certificate to forge" % (s["case"], s["host"], real["host"]))
            orig = real["certs"][0]
            name = "forged-" + orig
            s["certs"], s["send"] = [name], "leaf"
            if name in self.certs or name in [j[0] for j in jobs]:
                continue
            c = self.spec["cert"][orig]
            fake = {"key": c.get("key", "ec"), "cn": c["cn"]}
            if c.get("san"):
                fake["san"] = c["san"]
            jobs.append((name, self.pool.submit(self.sign_cert, name, fake, None)))
        for name, j in jobs:
            j.result()
            self.certs[name]["chainlist"] = self.chain_of(name)

    def gen_mitm(self):
        """bad/mitm.json: the attacker proxies (mitm.py)."""
        conf = []
        for s in self.servers:
            if s["kind"] not in MITM_KINDS:
                continue
            conf.append({"addr": s["addr"], "kind": s["kind"], "upstream": s["upstream"],
                         "name": s["fqdn"], "log": s["log"],
                         "chain": self.chain_file(s["certs"][0], "leaf")
                         if s["kind"] == "forged-cert" else None})
        os.makedirs(os.path.join(self.run, "bad"), exist_ok=True)
        with open(os.path.join(self.run, "bad", "mitm.json"), "w") as f:
            json.dump(conf, f, indent=1)

    def gen_bad(self):
        d = os.path.join(self.run, "bad")
        os.makedirs(d, exist_ok=True)
        conf = []
        for s in self.servers:
            if s["kind"] in POSTFIX_KINDS + ("closed",) + HTTPS_KINDS + MITM_KINDS:
                continue
            conf.append({"addr": s["addr"], "kind": s["kind"],
                         "chain": self.chain_file(s["certs"][0], s["send"]) if s["certs"] else None})
        with open(os.path.join(d, "servers.json"), "w") as f:
            json.dump(conf, f, indent=1)

    # ------------------------------------------------------------- HTTPS (MTA-STS)
    def cert_files(self, cert, send):
        """(certificates file, key file) for nginx / Python ssl: the chain without the key."""
        chain = self.chain_of(cert)
        if send == "leaf":
            chain = chain[:1]
        elif send == "chain":
            chain = chain[:-1] if len(chain) > 1 else chain
        path = os.path.join(self.run, "certs", "%s.%s.certs.pem" % (cert, send))
        with open(path, "w") as f:
            for c in chain:
                f.write(open(self.certs[c]["pem"]).read())
        return path, self.certs[cert]["key"]

    def policy_body(self, s):
        """The policy text of an HTTPS server, padded to `pad` bytes with extension lines."""
        body = s.get("policy", "")
        pad = int(s.get("pad", 0))
        line = "x-pad: " + "p" * 60 + "\n"
        while len(body) < pad:
            body += line
        return body

    def nginx_server(self, s, root):
        certs, key = self.cert_files(s["certs"][0], s["send"])
        site = os.path.join(root, s["addr"])
        os.makedirs(os.path.join(site, ".well-known"), exist_ok=True)
        with open(os.path.join(site, ".well-known", "mta-sts.txt"), "w") as f:
            f.write(self.policy_body(s))
        if "redirect" in s:
            action = "return 301 %s;" % s["redirect"]
        elif int(s.get("status", 200)) != 200:
            action = "return %d;" % int(s["status"])
        else:
            action = "try_files $uri =404;"
        return """  server {{
    listen {addr}:443 ssl;
    server_name _;
    ssl_certificate {certs};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    root {site};
    location = /.well-known/mta-sts.txt {{
      types {{ }}
      default_type "{ctype}";
      {action}
    }}
    location / {{ return 404; }}
  }}
""".format(addr=s["addr"], certs=certs, key=key, site=site,
           ctype=s.get("content_type", "text/plain"), action=action)

    def gen_https(self):
        """nginx for "https" servers, badhttps.py for the slow/streaming ones, the CA file."""
        d = os.path.join(self.run, "https")
        for sub in ("sites", "tmp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        servers = "".join(self.nginx_server(s, os.path.join(d, "sites"))
                          for s in self.servers if s["kind"] == "https")
        with open(os.path.join(d, "nginx.conf"), "w") as f:
            f.write("""user root;
worker_processes 1;
daemon on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/tmp/body;
  proxy_temp_path {d}/tmp/proxy;
  fastcgi_temp_path {d}/tmp/fastcgi;
  uwsgi_temp_path {d}/tmp/uwsgi;
  scgi_temp_path {d}/tmp/scgi;
  server_tokens off;
{servers}}}
""".format(d=d, servers=servers))
        bad = []
        for s in self.servers:
            if s["kind"] in ("https-slow", "https-stream", "https-collector"):
                certs, key = self.cert_files(s["certs"][0], s["send"])
                bad.append({"addr": s["addr"], "kind": s["kind"], "certs": certs, "key": key,
                            "policy": s.get("policy", "")})
        os.makedirs(os.path.join(self.run, "bad"), exist_ok=True)
        with open(os.path.join(self.run, "bad", "https.json"), "w") as f:
            json.dump(bad, f, indent=1)
        with open(os.path.join(self.run, "https-ca.pem"), "w") as f:
            for name, c in sorted(self.spec.get("cert", {}).items()):
                if c.get("https_ca"):
                    f.write(open(self.certs[name]["pem"]).read())

    def gen_peer(self):
        d = os.path.join(self.run, "peer")
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "main.cf"), "w") as f:
            f.write("compatibility_level = 3.6\nsmtp_dns_support_level = dnssec\n"
                    "smtp_tls_security_level = dane\nsmtp_host_lookup = dns\n"
                    "smtp_tls_dane_insecure_mx_policy = dane\n")

    def generate(self):
        if os.path.exists(self.run):
            shutil.rmtree(self.run)
        os.makedirs(self.run)
        self.gen_certs()
        self.plan()
        with futures.ThreadPoolExecutor(max_workers=1) as one:  # own thread: no pool deadlock
            forged = one.submit(self.gen_forged)
            self.gen_zones()
            forged.result()
        self.gen_nsd()
        self.gen_unbound()
        self.gen_postfix()
        self.gen_bad()
        self.gen_mitm()
        self.gen_https()
        self.gen_peer()
        self.manifest["certs"] = {n: {"pem": c["pem"], "chain": c["chainlist"]}
                                  for n, c in self.certs.items()}
        with open(os.path.join(self.run, "manifest.json"), "w") as f:
            json.dump(self.manifest, f, indent=1)


def fqdn(name, origin):
    """Case-relative name ('mx1', '@', 'a.b.test.') -> FQDN without the trailing dot."""
    if name == "@":
        return origin.rstrip(".")
    if name.endswith("."):
        return name.rstrip(".")
    if name.endswith(".test"):
        return name
    return "%s.%s" % (name, origin.rstrip("."))


def fq_keys(d, origin):
    return {fqdn(k, origin): v for k, v in d.items()}


def mx_list(case, origin):
    """The case's MX RRset as [[preference, host]], sorted; the implicit MX if none."""
    mx = []
    for line in case.get("records", []):
        f = line.split()
        if len(f) == 4 and f[0] == "@" and f[1] == "MX":
            mx.append([int(f[2]), "." if f[3] == "." else fqdn(f[3], origin)])
    if not mx and any(l.split()[0] == "@" and l.split()[1] in ("A", "AAAA")
                      for l in case.get("records", [])):
        mx = [[0, origin.rstrip(".")]]
    return sorted(mx)


def asn1_time(rel):
    """'-1d' / '+825d' / '20200101000000Z' -> ASN.1 GeneralizedTime/UTCTime string."""
    import datetime
    if rel.endswith("Z"):
        return rel
    days = int(rel[:-1])
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return t.strftime("%Y%m%d%H%M%SZ")


def corrupt_rrsig(path, zone, spec):
    """Flip bytes in the signature of the RRSIG covering '<owner> <TYPE>'."""
    owner, rtype = spec.split()
    fq = zone if owner == "@" else "%s.%s" % (owner, zone)
    lines = open(path).read().splitlines()
    done = False
    for i, line in enumerate(lines):
        f = line.split()
        if len(f) > 5 and f[0].lower() == fq.lower() and f[3] == "RRSIG" and f[4] == rtype:
            sig = list(f[-1])
            sig[5] = "A" if sig[5] != "A" else "B"
            sig[9] = "A" if sig[9] != "A" else "B"
            f[-1] = "".join(sig)
            lines[i] = "\t".join(f)
            done = True
    if not done:
        raise ValueError("corrupt %r: no RRSIG for it in %s" % (spec, zone))
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: worldgen.py CASES.toml RUNDIR")
    World(sys.argv[1], sys.argv[2]).generate()
