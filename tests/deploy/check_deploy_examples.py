#!/usr/bin/env python3
"""Consistency check of the deployment examples under deploy/ (Docker, Compose, Kubernetes).

They cannot run here (no Docker, no Kubernetes), so this checks what can be checked without running them:
every YAML and JSON file parses (and the JSON configs inside ConfigMaps), the facts that several files must
agree on agree, yamllint passes, and, given a drawbridge binary, `drawbridge check` accepts every config.

Usage: check_deploy_examples.py [DRAWBRIDGE_BINARY] [--deploy-dir DIR]

Prints one line per problem and exits 1 if there is any, else prints one line and exits 0. --deploy-dir checks
another copy of deploy/ (to see a check fail on a broken copy without touching the real files).
"""

import argparse
import base64
import ipaddress
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import yaml
except ImportError:
    print("check_deploy_examples: the Python yaml module is missing (Debian: python3-yaml); run scripts/install-deps",
          file=sys.stderr)
    sys.exit(1)

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SHUTDOWN_GRACE = 30.0  # timeouts.shutdown_grace's default, in seconds (README)
DEFAULT_TERMINATION_GRACE = 30  # Kubernetes' terminationGracePeriodSeconds default
DEFAULT_DOCKER_STOP_GRACE = 10.0  # Compose's stop_grace_period default
APPSMITH_PORT = 80  # each Appsmith node's own Caddy (reference: send traffic to :80)
SHARED_APPSMITH_ENV = ("APPSMITH_DB_URL", "APPSMITH_REDIS_URL", "APPSMITH_ENCRYPTION_PASSWORD",
                       "APPSMITH_ENCRYPTION_SALT")


class Report:
    def __init__(self, deploy):
        self.deploy = deploy
        self.problems = []
        self.checks = 0

    def where(self, path):
        path = Path(path)
        try:
            return str(path.relative_to(self.deploy.parent))
        except ValueError:
            return str(path)

    def check(self, ok, where, message):
        """Counts one check; records the message when it failed (once, if several paths lead to it). Returns ok."""
        self.checks += 1
        line = f"{where}: {message}"
        if not ok and line not in self.problems:
            self.problems.append(line)
        return ok

    def guarded(self, where, function, *args, default=None):
        """Runs one part of the checks; a file of an unexpected shape is a problem, not a traceback."""
        try:
            return function(*args)
        except (AttributeError, KeyError, TypeError, IndexError, ValueError) as error:
            self.check(False, where, f"has an unexpected shape, cannot be checked ({type(error).__name__}: {error})")
            return default


# --- small parsers -------------------------------------------------------------------------------------------

DURATION = re.compile(r"^(\d+)(ms|s|m|h)$")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def drawbridge_duration(text):
    """'250ms', '30s', '5m', '1h' (drawbridge's config) in seconds, or None."""
    match = DURATION.match(str(text))
    return int(match.group(1)) * UNIT_SECONDS[match.group(2)] if match else None


def compose_duration(text):
    """Compose's durations ('45s', '1m30s', '500ms') in seconds, or None."""
    text = str(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * {"us": 1e-6, **UNIT_SECONDS}[u] for n, u in parts)


def split_host_port(address):
    """'host:port' or '[v6]:port' -> (host, port) or None."""
    match = re.match(r"^\[([^\]]+)\]:(\d+)$", str(address)) or re.match(r"^([^:\[\]]+):(\d+)$", str(address))
    return (match.group(1), int(match.group(2))) if match else None


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redis_target(url):
    """cluster.redis -> ('tcp', host, port) or ('unix', path, None) or None."""
    match = re.match(r"^rediss?://(?:[^@/]*@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?(?:/\d+)?$", str(url))
    if match:
        return ("tcp", match.group(1).strip("[]"), int(match.group(2) or 6379))
    if str(url).startswith("unix:///"):
        return ("unix", str(url)[len("unix://"):], None)
    return None


def selector_matches(selector, labels):
    """A Kubernetes label selector (matchLabels, matchExpressions) against a pod's labels; empty selects none."""
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def flag_value(argv, *names):
    for i, arg in enumerate(argv):
        if arg in names and i + 1 < len(argv):
            return argv[i + 1]
        for name in names:
            if arg.startswith(name + "="):
                return arg[len(name) + 1:]
    return None


# --- the drawbridge config -----------------------------------------------------------------------------------

def config_facts(report, where, config):
    """Checks what every example config must say, and returns the facts other files must agree with."""
    facts = {"listener_ports": set(), "admin_port": None, "files": [], "node_hosts": [], "redis": None,
             "shutdown_grace": DEFAULT_SHUTDOWN_GRACE, "replica": None}
    if not report.check(isinstance(config, dict), where, "the config is not a JSON object"):
        return facts
    for i, listener in enumerate(config.get("listeners") or []):
        hp = split_host_port(listener.get("address", ""))
        if report.check(hp is not None, where, f"listeners[{i}].address is not IP:port"):
            facts["listener_ports"].add(hp[1])
        for j, cert in enumerate(((listener.get("tls") or {}).get("certificates")) or []):
            facts["files"] += [(f"listeners[{i}].tls.certificates[{j}].{k}", cert[k]) for k in ("cert", "key")
                               if k in cert]
    report.check(facts["listener_ports"], where, "no listeners: the default 0.0.0.0:8080 is not spelt out")

    admin = config.get("admin")
    if report.check(isinstance(admin, dict), where, "no admin block: no /readyz and /healthz for the probes"):
        hp = split_host_port(admin.get("address", "127.0.0.1:9901"))
        if report.check(hp is not None, where, "admin.address is not IP:port"):
            facts["admin_port"] = hp[1]
            report.check(not is_loopback(hp[0]), where,
                         f"admin.address {admin.get('address', '127.0.0.1:9901 (default)')} is loopback: "
                         "probes and other containers cannot reach it")
        if report.check(admin.get("token_file"), where, "admin.token_file is missing (required off loopback)"):
            facts["files"].append(("admin.token_file", admin["token_file"]))

    grace = (config.get("timeouts") or {}).get("shutdown_grace")
    if grace is not None:
        facts["shutdown_grace"] = drawbridge_duration(grace)
        report.check(facts["shutdown_grace"] is not None, where, f"timeouts.shutdown_grace {grace!r} is not a duration")

    for u, upstream in enumerate(config.get("upstreams") or []):
        for n, node in enumerate(upstream.get("nodes") or []):
            hp = split_host_port(node.get("address", ""))
            if report.check(hp is not None, where, f"upstreams[{u}].nodes[{n}].address is not host:port"):
                facts["node_hosts"].append((node.get("name"), hp[0], hp[1]))
    report.check(facts["node_hosts"], where, "no upstream nodes")

    cluster = config.get("cluster")
    if report.check(isinstance(cluster, dict), where, "no cluster section: the replicas would not share state"):
        facts["redis"] = redis_target(cluster.get("redis"))
        report.check(facts["redis"] is not None, where,
                     f"cluster.redis {cluster.get('redis')!r} is not redis://, rediss:// or unix:///")
        if cluster.get("password_file"):
            facts["files"].append(("cluster.password_file", cluster["password_file"]))
        if facts["redis"] and facts["redis"][0] == "unix":
            facts["files"].append(("cluster.redis", facts["redis"][1]))
        facts["replica"] = cluster.get("replica")
    return facts


# --- files under deploy/ -------------------------------------------------------------------------------------

def load_everything(report):
    """Parses every .yaml/.yml/.json under deploy/; returns {path: [documents]}."""
    loaded = {}
    for path in sorted(report.deploy.rglob("*")):
        if not path.is_file() or path.suffix not in (".yaml", ".yml", ".json"):
            continue
        try:
            text = path.read_text()
            docs = [json.loads(text)] if path.suffix == ".json" else [d for d in yaml.safe_load_all(text)
                                                                       if d is not None]
        except (ValueError, yaml.YAMLError) as error:
            report.check(False, report.where(path), f"does not parse: {error}".replace("\n", " "))
            continue
        report.check(True, report.where(path), "")
        loaded[path] = docs
    report.check(loaded, report.where(report.deploy), "no YAML or JSON files")
    return loaded


def dockerfile_facts(report, path):
    """The final stage's user, entrypoint + cmd and exposed ports."""
    where = report.where(path)
    facts = {"command": [], "entrypoint": [], "cmd": [], "exposed": set(), "numeric_user": False}
    if not report.check(path.is_file(), where, "missing"):
        return facts
    text = re.sub(r"\\\n", " ", "\n".join(line for line in path.read_text().splitlines()
                                          if not line.lstrip().startswith("#")))
    instructions = [(line.split(None, 1) + [""])[:2] for line in text.splitlines() if line.strip()]
    instructions = [(op.upper(), arg.strip()) for op, arg in instructions]
    froms = [i for i, (op, _) in enumerate(instructions) if op == "FROM"]
    report.check(len(froms) >= 2, where, f"{len(froms)} FROM line(s): not a multi-stage build")
    final = instructions[froms[-1]:] if froms else instructions

    def exec_form(arg):
        try:
            value = json.loads(arg)
            return value if isinstance(value, list) else None
        except ValueError:
            return ["/bin/sh", "-c", arg]

    users = [arg for op, arg in final if op == "USER"]
    user = users[-1].split(":")[0] if users else "root"
    report.check(user not in ("root", "0"), where, f"the final stage runs as {user!r}: add a USER that is not root")
    facts["numeric_user"] = user.isdigit()
    entrypoints = [exec_form(arg) or [] for op, arg in final if op == "ENTRYPOINT"]
    cmds = [exec_form(arg) or [] for op, arg in final if op == "CMD"]
    facts["entrypoint"] = entrypoints[-1] if entrypoints else []
    facts["cmd"] = cmds[-1] if cmds else []
    command = facts["entrypoint"] + facts["cmd"]
    facts["command"] = command
    runs_serve = (len(command) >= 2 and Path(command[0]).name == "drawbridge" and command[1] == "serve")
    report.check(runs_serve, where, f"the final stage's ENTRYPOINT/CMD runs {command!r}, not drawbridge serve")
    for op, arg in final:
        if op == "EXPOSE":
            facts["exposed"] |= {int(p.split("/")[0]) for p in arg.split() if p.split("/")[0].isdigit()}
    return facts


def check_paths_provided(report, where, facts, provided, what):
    """Every file the config names must be provided by a mount (a file, or a directory holding it)."""
    for key, path in facts["files"]:
        ok = any(path == p or path.startswith(p.rstrip("/") + "/") for p in provided)
        report.check(ok, where, f"{key} {path} is not provided by any {what}")


# --- Compose -------------------------------------------------------------------------------------------------

def compose_port_mappings(service):
    """[(host_ip, host_port, container_port)] of a service's published ports."""
    mappings = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is not None:
                mappings.append((entry.get("host_ip", ""), int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].rsplit(":", 2)
        if len(parts) == 3:
            mappings.append((parts[0], int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            mappings.append(("", int(parts[0]), int(parts[1])))
    return mappings


def compose_mounts(service):
    """{container path: host source or volume name}."""
    mounts = {}
    for entry in service.get("volumes") or []:
        if isinstance(entry, dict):
            mounts[entry.get("target")] = entry.get("source")
        else:
            parts = str(entry).split(":")
            if len(parts) >= 2:
                mounts[parts[1]] = parts[0]
    return mounts


def compose_env(service):
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def check_compose(report, compose_path, docs, docker, configs):
    where = report.where(compose_path)
    compose = docs[0] if docs else {}
    services = compose.get("services") or {}
    compose_dir = compose_path.parent
    dockerfile = report.deploy / "docker" / "Dockerfile"

    def is_drawbridge(service):
        build = service.get("build")
        if isinstance(build, dict):
            context = (compose_dir / build.get("context", ".")).resolve()
            return (context / build.get("dockerfile", "Dockerfile")).resolve() == dockerfile.resolve()
        return "drawbridge" in str(service.get("image", ""))

    edges = {name: s for name, s in services.items() if is_drawbridge(s)}
    redis = {name: s for name, s in services.items() if str(s.get("image", "")).split(":")[0] == "redis"}
    appsmiths = {name: s for name, s in services.items() if "appsmith/appsmith-ce" in str(s.get("image", ""))}
    report.check(len(edges) == 2, where, f"{len(edges)} drawbridge service(s) {sorted(edges)}, expected two "
                 "built from deploy/docker/Dockerfile")
    report.check(len(redis) == 1, where, f"{len(redis)} redis service(s), expected one")
    report.check(len(appsmiths) == 3, where, f"{len(appsmiths)} appsmith/appsmith-ce service(s), expected three")

    replicas, host_ports, node_hosts = {}, {}, set()
    for name, service in edges.items():
        at = f"{where}: services.{name}"
        entrypoint = service.get("entrypoint", docker.get("entrypoint", []))
        command = service.get("command", docker.get("cmd", []))
        if isinstance(entrypoint, str):
            entrypoint = entrypoint.split()
        if isinstance(command, str):
            command = command.split()
        config_path = flag_value(list(entrypoint) + list(command), "--config", "-c")
        if not report.check(config_path, at, "no --config in its command"):
            continue
        mounts = compose_mounts(service)
        source = mounts.get(config_path)
        config_file = (compose_dir / source).resolve() if source else None
        if not report.check(config_file and config_file in configs, at,
                            f"its config {config_path} is not mounted from a JSON file under deploy/"):
            continue
        _, facts = configs[config_file]
        config_where = report.where(config_file)

        check_paths_provided(report, at, facts, set(mounts), "volume")
        # Two replicas with one explicit name would be one replica to the cluster; the default is hostname:pid.
        replicas[name] = facts["replica"] or f"{service.get('hostname') or '<container id of ' + name + '>'}:pid"

        for host_ip, host_port, target in compose_port_mappings(service):
            report.check(target in facts["listener_ports"] | {facts["admin_port"]}, at,
                         f"publishes container port {target}, neither a listener of {config_where} nor its admin port")
            if target == facts["admin_port"]:
                report.check(is_loopback(host_ip), at, f"publishes the admin port on {host_ip or 'every address'}, "
                             "not on the host's loopback")
            report.check((host_ip, host_port) not in host_ports, at,
                         f"host port {host_port} is also published by {host_ports.get((host_ip, host_port))}")
            host_ports[(host_ip, host_port)] = name
        published = {t for _, _, t in compose_port_mappings(service)}
        report.check(published & facts["listener_ports"], at, "publishes none of the config's listener ports")

        stop = compose_duration(service.get("stop_grace_period", f"{DEFAULT_DOCKER_STOP_GRACE:g}s"))
        report.check(stop is not None and facts["shutdown_grace"] is not None and stop > facts["shutdown_grace"], at,
                     f"stop_grace_period {service.get('stop_grace_period', '10s (the default)')} is not above "
                     f"timeouts.shutdown_grace of {config_where} ({facts['shutdown_grace']}s): "
                     "requests in flight would be killed")

        depends = service.get("depends_on") or []
        depends = set(depends) if isinstance(depends, list) else set(depends.keys())
        if facts["redis"] and facts["redis"][0] == "tcp":
            host, port = facts["redis"][1], facts["redis"][2]
            report.check(host in redis, config_where, f"cluster.redis names {host!r}, not the redis service "
                         f"{sorted(redis)}")
            if host in redis:
                redis_command = " ".join(map(str, redis[host].get("command") or []))
                redis_port = int(flag_value(redis_command.split(), "--port") or 6379)
                report.check(port == redis_port, config_where,
                             f"cluster.redis port {port}, Redis listens on {redis_port}")
                report.check(host in depends, at, f"does not depend on {host}")
        for node_name, host, port in facts["node_hosts"]:
            node_hosts.add(host)
            report.check(port == APPSMITH_PORT, config_where,
                         f"node {node_name} on port {port}, not Appsmith's {APPSMITH_PORT}")
            # Node names resolve once at start-up: the container must exist before drawbridge starts.
            report.check(host in depends, at, f"does not depend on {host}, a node it resolves at start-up")

    names = list(replicas.values())
    report.check(len(set(names)) == len(names), where,
                 f"the drawbridge services would have the same cluster replica name: {replicas}")
    report.check(node_hosts == set(appsmiths), where,
                 f"the config's nodes {sorted(node_hosts)} are not the appsmith services {sorted(appsmiths)}")

    for name, service in appsmiths.items():
        networks = service.get("networks") or {}
        fixed = isinstance(networks, dict) and any(
            isinstance(n, dict) and (n.get("ipv4_address") or n.get("ipv6_address")) for n in networks.values())
        report.check(fixed, f"{where}: services.{name}", "no fixed ipv4_address: drawbridge resolves node names once, "
                     "and a recreated container may come back with another address")
    envs = {name: compose_env(s) for name, s in appsmiths.items()}
    for key in SHARED_APPSMITH_ENV:
        values = {name: env.get(key) for name, env in envs.items()}
        report.check(all(values.values()), where, f"{key} is not set on every appsmith service: {values}")
        report.check(len(set(values.values())) <= 1, where, f"{key} differs between the appsmith services, "
                     "which must share it")
    return host_ports


def check_compose_readme(report, readme, host_ports):
    """The URLs the README tells people to use must be ports Compose publishes."""
    if not report.check(readme.is_file(), report.where(readme), "missing"):
        return
    text = readme.read_text()
    report.check("not run in ci" in " ".join(text.lower().split()), report.where(readme),
                 "does not say these are examples that CI does not run")
    published = {port for _, port in host_ports}
    for port in sorted({int(p) for p in re.findall(r"(?:localhost|127\.0\.0\.1):(\d+)", text)}):
        report.check(port in published, report.where(readme), f"names port {port}, which Compose does not publish")


# --- Kubernetes ----------------------------------------------------------------------------------------------

def k8s_provided_files(container, volumes, objects):
    """{file path in the container: (kind, name, key)} for ConfigMap and Secret volumes (projected or not)."""
    files = {}
    by_name = {v.get("name"): v for v in volumes}

    def add(mount, kind, name, items):
        if items:
            for item in items:
                files[f"{mount}/{item['path']}"] = (kind, name, item["key"])
        else:
            obj = objects.get((kind, name)) or {}
            for key in list((obj.get("data") or {})) + list((obj.get("stringData") or {})):
                files[f"{mount}/{key}"] = (kind, name, key)

    for mount in container.get("volumeMounts") or []:
        volume = by_name.get(mount.get("name")) or {}
        path = mount.get("mountPath", "").rstrip("/")
        if "configMap" in volume:
            add(path, "ConfigMap", volume["configMap"].get("name"), volume["configMap"].get("items"))
        if "secret" in volume:
            add(path, "Secret", volume["secret"].get("secretName"), volume["secret"].get("items"))
        for source in (volume.get("projected") or {}).get("sources") or []:
            if "configMap" in source:
                add(path, "ConfigMap", source["configMap"].get("name"), source["configMap"].get("items"))
            if "secret" in source:
                add(path, "Secret", source["secret"].get("name"), source["secret"].get("items"))
    return files


def object_value(objects, kind, name, key):
    obj = objects.get((kind, name)) or {}
    if key in (obj.get("stringData") or {}):
        return str(obj["stringData"][key])
    if key in (obj.get("data") or {}):
        return base64.b64decode(obj["data"][key]).decode()
    return None


def container_port(container, port):
    """An int, or a named port resolved through the container's ports; None if unknown."""
    if isinstance(port, int):
        return port
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return p.get("containerPort")
    return int(port) if str(port).isdigit() else None


def prestop_sleep(container):
    pre = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if "sleep" in pre:
        return float(pre["sleep"].get("seconds", 0))
    words = " ".join(map(str, ((pre.get("exec") or {}).get("command")) or [])).split()
    for i, word in enumerate(words[:-1]):
        if Path(word).name == "sleep" and re.match(r"^\d+(\.\d+)?$", words[i + 1]):
            return float(words[i + 1])
    return None


def check_kubernetes(report, loaded, docker, configs):
    k8s_dir = report.deploy / "kubernetes"
    objects, origin = {}, {}
    for path, docs in loaded.items():
        if k8s_dir in path.parents:
            for doc in docs:
                if isinstance(doc, dict) and doc.get("kind"):
                    key = (doc["kind"], (doc.get("metadata") or {}).get("name"))
                    objects[key] = doc
                    origin[key] = report.where(path)
    where = report.where(k8s_dir)

    deployments = [(k, o) for k, o in objects.items() if k[0] == "Deployment" and any(
        "drawbridge" in str(c.get("image", "")) + str(c.get("name", ""))
        for c in o["spec"]["template"]["spec"].get("containers") or [])]
    if not report.check(len(deployments) == 1, where, f"{len(deployments)} drawbridge Deployment(s), expected one"):
        return
    key, deployment = deployments[0]
    at = f"{origin[key]}: Deployment {key[1]}"
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    labels = (pod.get("metadata") or {}).get("labels") or {}
    container = [c for c in spec.get("containers") or []
                 if "drawbridge" in str(c.get("image", "")) + str(c.get("name", ""))][0]

    replicas = deployment["spec"].get("replicas")
    report.check(replicas == 2, at, f"replicas is {replicas}, not 2")
    report.check(selector_matches(deployment["spec"].get("selector"), labels), at,
                 "its selector does not match its own pod labels")

    anti = (spec.get("affinity") or {}).get("podAntiAffinity") or {}
    terms = list(anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []) + [
        t.get("podAffinityTerm") or {} for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    report.check(any(t.get("topologyKey") == "kubernetes.io/hostname"
                     and selector_matches(t.get("labelSelector"), labels) for t in terms), at,
                 "no podAntiAffinity on kubernetes.io/hostname whose labelSelector matches the drawbridge pods")

    # The config, through the command line and the mounts.
    command = list(container.get("command") or docker.get("entrypoint", [])) + list(
        container.get("args") if "args" in container else ([] if "command" in container else docker.get("cmd", [])))
    config_path = flag_value(command, "--config", "-c")
    files = k8s_provided_files(container, spec.get("volumes") or [], objects)
    source = files.get(config_path)
    if not report.check(config_path and source and source[0] == "ConfigMap", at,
                        f"its config {config_path} is not mounted from a ConfigMap"):
        return
    cm_key = ("ConfigMap", source[1])
    if not report.check(cm_key in objects, at, f"ConfigMap {source[1]} is not in {where}"):
        return
    cm_where = f"{origin[cm_key]}: ConfigMap {source[1]} {source[2]}"
    _, facts = configs.get(cm_key + (source[2],), (None, None))
    if not report.check(facts is not None, cm_where, "missing, or not JSON"):
        return

    report.check(not facts["replica"], cm_where, f"cluster.replica {facts['replica']!r} would be the same in both "
                 "pods: leave it out (hostname:pid)")
    check_paths_provided(report, at, facts, set(files), "ConfigMap or Secret mount")
    for name, path in facts["files"]:
        if name == "admin.token_file" and path in files and files[path][0] == "Secret":
            value = object_value(objects, *files[path])
            if value is not None:
                # A placeholder that is a working token would open the admin API to whoever read the example.
                tokens = [ln for ln in value.splitlines() if ln.strip() and not ln.strip().startswith("#")]
                report.check(not tokens, at, f"{path} (Secret {files[path][1]}) ships a usable token {tokens[:1]}: "
                             "leave only a comment, so that drawbridge refuses to start until one is filled in")

    # Probes on the admin listener.
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = (container.get(probe) or {}).get("httpGet") or {}
        if report.check(get, at, f"no {probe}.httpGet"):
            report.check(get.get("path") == path, at, f"{probe} asks {get.get('path')}, not {path}")
            port = container_port(container, get.get("port"))
            report.check(port == facts["admin_port"], at,
                         f"{probe} port {get.get('port')} ({port}) is not admin.address's port {facts['admin_port']}")

    # Shutdown: preStop sleep, then SIGTERM and shutdown_grace, all within the grace period.
    sleep = prestop_sleep(container)
    report.check(sleep is not None and sleep > 0, at, "no preStop hook that sleeps")
    grace = spec.get("terminationGracePeriodSeconds", DEFAULT_TERMINATION_GRACE)
    needed = (sleep or 0) + (facts["shutdown_grace"] or 0)
    report.check(grace > needed, at, f"terminationGracePeriodSeconds {grace} is not above the preStop sleep "
                 f"({sleep}s) + timeouts.shutdown_grace ({facts['shutdown_grace']}s)")

    # Not root.
    pod_sc, c_sc = spec.get("securityContext") or {}, container.get("securityContext") or {}
    report.check(c_sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, at,
                 "securityContext.runAsNonRoot is not true")
    uid = c_sc.get("runAsUser", pod_sc.get("runAsUser"))
    report.check(uid != 0, at, "securityContext.runAsUser is 0 (root)")
    report.check(uid is not None or docker.get("numeric_user"), at,
                 "no runAsUser, and the image's USER is not numeric: runAsNonRoot cannot verify it")

    # The PodDisruptionBudget and the Service select these pods.
    pdbs = [(k, o) for k, o in objects.items() if k[0] == "PodDisruptionBudget"
            and selector_matches((o.get("spec") or {}).get("selector"), labels)]
    if report.check(pdbs, where, f"no PodDisruptionBudget selects the drawbridge pods {labels}"):
        for k, pdb in pdbs:
            report.check(pdb["spec"].get("minAvailable") == 1, f"{origin[k]}: PodDisruptionBudget {k[1]}",
                         f"minAvailable is {pdb['spec'].get('minAvailable')}, not 1")
    services = [(k, o) for k, o in objects.items() if k[0] == "Service"
                and selector_matches({"matchLabels": (o.get("spec") or {}).get("selector")}, labels)]
    if report.check(services, where, f"no Service selects the drawbridge pods {labels}"):
        for k, service in services:
            for p in service["spec"].get("ports") or []:
                target = container_port(container, p.get("targetPort", p.get("port")))
                report.check(target in facts["listener_ports"], f"{origin[k]}: Service {k[1]}",
                             f"port {p.get('port')} goes to {p.get('targetPort')} ({target}), "
                             f"not a listener of the config {sorted(facts['listener_ports'])}")

    # Redis and the nodes are Services of these manifests.
    def service_port(name, port, what):
        k = ("Service", name)
        if report.check(k in objects, cm_where, f"{what} names {name!r}, which is no Service in {where}"):
            ports = [p.get("port") for p in objects[k]["spec"].get("ports") or []]
            report.check(port in ports, cm_where, f"{what} uses port {port}, Service {name} has {ports}")

    if facts["redis"] and facts["redis"][0] == "tcp":
        service_port(facts["redis"][1], facts["redis"][2], "cluster.redis")
        redis_service = objects.get(("Service", facts["redis"][1]))
        if redis_service:
            selector = {"matchLabels": redis_service["spec"].get("selector")}
            workloads = [k for k, o in objects.items() if k[0] in ("StatefulSet", "Deployment") and selector_matches(
                selector, (o["spec"]["template"].get("metadata") or {}).get("labels") or {})]
            report.check(workloads, f"{origin[('Service', facts['redis'][1])]}: Service {facts['redis'][1]}",
                         "selects no StatefulSet or Deployment of these manifests")
    for node_name, host, port in facts["node_hosts"]:
        service_port(host, port, f"node {node_name}")


# --- main ----------------------------------------------------------------------------------------------------

def run_yamllint(report):
    where = report.where(report.deploy / ".yamllint")
    if not report.check((report.deploy / ".yamllint").is_file(), where, "missing"):
        return
    if not report.check(shutil.which("yamllint"), "yamllint", "not installed: run scripts/install-deps"):
        return
    result = subprocess.run(["yamllint", "--strict", "-f", "parsable", "-c", str(report.deploy / ".yamllint"),
                             str(report.deploy)], capture_output=True, text=True)
    lines = [ln for ln in (result.stdout + result.stderr).splitlines() if ln.strip()]
    report.check(result.returncode == 0, "yamllint", "; ".join(lines) or f"exit {result.returncode}")


def run_drawbridge_check(report, binary, configs):
    if not report.check(Path(binary).is_file(), binary, "no such drawbridge binary"):
        return
    # `check` reads no file the config names (token files, certificates, the Redis password) and resolves no
    # host name, so the configs are checked as they are, from a scratch directory.
    with tempfile.TemporaryDirectory() as scratch:
        for origin, (config, _) in configs.items():
            name = "-".join(str(part) for part in origin[1:]) if isinstance(origin, tuple) else origin.name
            where = f"ConfigMap {origin[1]} {origin[2]}" if isinstance(origin, tuple) else report.where(origin)
            copy = Path(scratch) / name.replace("/", "_")
            copy.write_text(json.dumps(config, indent=2))
            result = subprocess.run([binary, "check", "--config", str(copy)], capture_output=True, text=True)
            out = "; ".join(ln for ln in (result.stdout + result.stderr).splitlines() if ln.strip())
            report.check(result.returncode == 0, where, f"drawbridge check exits {result.returncode}: {out}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("binary", nargs="?", help="a drawbridge binary: run `check` on every config")
    parser.add_argument("--deploy-dir", default=str(REPO / "deploy"), help="the deploy/ directory to check")
    args = parser.parse_args()
    report = Report(Path(args.deploy_dir).resolve())

    loaded = load_everything(report)
    configs = {}  # origin (a Path, or ("ConfigMap", name, key)) -> (config, facts)
    for path, docs in loaded.items():
        if path.suffix == ".json":
            facts = report.guarded(report.where(path), config_facts, report, report.where(path), docs[0])
            if facts:
                configs[path] = (docs[0], facts)
        for doc in docs:
            if isinstance(doc, dict) and doc.get("kind") == "ConfigMap":
                name = (doc.get("metadata") or {}).get("name")
                for key, text in (doc.get("data") or {}).items():
                    if not key.endswith(".json"):
                        continue
                    at = f"{report.where(path)}: ConfigMap {name} {key}"
                    try:
                        config = json.loads(text)
                    except ValueError as error:
                        report.check(False, at, f"does not parse: {error}")
                        continue
                    facts = report.guarded(at, config_facts, report, at, config)
                    if facts:
                        configs[("ConfigMap", name, key)] = (config, facts)

    dockerfile = report.deploy / "docker" / "Dockerfile"
    docker = report.guarded(report.where(dockerfile), dockerfile_facts, report, dockerfile,
                            default={"command": [], "entrypoint": [], "cmd": [], "exposed": set(),
                                     "numeric_user": False})
    for origin, (_, facts) in configs.items():
        at = report.where(origin) if isinstance(origin, Path) else f"ConfigMap {origin[1]} {origin[2]}"
        for port in sorted((facts["listener_ports"] | {facts["admin_port"]}) - {None}):
            report.check(port in docker["exposed"], report.where(report.deploy / "docker" / "Dockerfile"),
                         f"does not EXPOSE {port}, a port of {at}")

    compose_files = [p for p in loaded if p.parent == report.deploy / "compose" and p.suffix in (".yml", ".yaml")]
    if report.check(len(compose_files) == 1, report.where(report.deploy / "compose"),
                    f"{len(compose_files)} Compose files, expected one"):
        host_ports = report.guarded(report.where(compose_files[0]), check_compose, report, compose_files[0],
                                    loaded[compose_files[0]], docker, configs)
        if host_ports is not None:
            check_compose_readme(report, report.deploy / "compose" / "README.md", host_ports)
    report.guarded(report.where(report.deploy / "kubernetes"), check_kubernetes, report, loaded, docker, configs)
    run_yamllint(report)
    if args.binary:
        run_drawbridge_check(report, args.binary, configs)

    for line in report.problems:
        print(line)
    if report.problems:
        print(f"check_deploy_examples: {len(report.problems)} problem(s) in {report.deploy}")
        return 1
    print(f"check_deploy_examples: ok, {report.checks} checks over {len(loaded)} files in {report.deploy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
