"""Several `kagi serve --store postgres://…` processes on one database behave as one KMS,
through boto3: what one node creates the others use, what one node disables the others
refuse within the 1-second staleness limit, audit lookups on any node cover every node's
log, and a node killed with SIGKILL under load loses nothing it acknowledged (keys,
ciphertexts, audit events). Each test creates its own
database on 127.0.0.1:5432 and drops it afterwards."""

from __future__ import annotations

import shutil
import threading
import time

from audit_helpers import (
    assert_verified, audited, cloudtrail_client, encode_record, ids_of, kagi_audit, kagi_verify,
    lookup_all, read_segment, run_kagi, segments,
)
from aws_clients import AwsCli, kms_client
from conftest import REGION
from expect import aws_error
from test_audit_verify_cli import usage_rows
from test_postgres_store import pg_url, psql  # noqa: F401 -- the fixture and its helper

STALENESS_LIMIT_S = 1.0
LIVENESS_S = 10.0  # kagi::cluster::LIVENESS: a node not registered this long is left out
WORKERS = 6
LOAD_S = 3.0


def start_nodes(start_kagi, tmp_path, url: str, count: int):
    """`count` nodes on `url`, each with its own data directory and the first one's root
    key; returns the nodes and the first node's admin credentials."""
    first_dir = tmp_path / "node0"
    first_dir.mkdir()
    nodes = [start_kagi(data_dir=first_dir, extra_args=("--store", url))]
    for n in range(1, count):
        data = tmp_path / f"node{n}"
        data.mkdir(mode=0o700)
        shutil.copy2(first_dir / "root.key", data / "root.key")
        nodes.append(start_kagi(data_dir=data, extra_args=("--store", url)))
    return nodes, nodes[0].file_credentials()


def seconds_until(expected_code: str, call) -> float:
    start = time.monotonic()
    while time.monotonic() - start < 5:
        try:
            call()
            code = "OK"
        except Exception as e:  # noqa: BLE001 -- botocore's ClientError or anything else
            code = getattr(e, "response", {}).get("Error", {}).get("Code", repr(e))
        if code == expected_code:
            return time.monotonic() - start
        time.sleep(0.01)
    raise AssertionError(f"still not {expected_code} after 5 s")


def test_two_nodes_are_one_kms(start_kagi, kagi_bin, tmp_path, pg_url):
    (a, b), creds = start_nodes(start_kagi, tmp_path, pg_url, 2)
    ka, kb = kms_client(a.endpoint, REGION, creds), kms_client(b.endpoint, REGION, creds)
    key = ka.create_key(Description="made on A")["KeyMetadata"]["KeyId"]
    ka.create_alias(AliasName="alias/cluster", TargetKeyId=key)
    blob = kb.encrypt(KeyId="alias/cluster", Plaintext=b"one kms")["CiphertextBlob"]
    assert ka.decrypt(CiphertextBlob=blob)["Plaintext"] == b"one kms"
    assert kb.describe_key(KeyId=key)["KeyMetadata"]["Description"] == "made on A"

    ka.disable_key(KeyId=key)
    took = seconds_until("DisabledException", lambda: kb.encrypt(KeyId=key, Plaintext=b"x"))
    assert took <= STALENESS_LIMIT_S, f"B kept using the disabled key for {took:.3f} s"
    kb.enable_key(KeyId=key)
    took = seconds_until("OK", lambda: ka.encrypt(KeyId=key, Plaintext=b"x"))
    assert took <= STALENESS_LIMIT_S

    with aws_error("NotFoundException"):
        kb.describe_key(KeyId="alias/nothing-here")

    # Audit answers cover both nodes, whichever is asked: LookupEvents through boto3 and
    # the AWS CLI, GetKeyLastUsage, and `kagi audit usage`.
    on_a = audited(ka.encrypt(KeyId=key, Plaintext=b"a"))
    time.sleep(1.1)  # event times have one-second resolution: B's call is in a later second
    on_b = audited(kb.encrypt(KeyId=key, Plaintext=b"b"))
    for node in (a, b):
        ct = cloudtrail_client(node.endpoint, creds)
        history = ids_of(lookup_all(ct, "ResourceName", key))
        assert on_a.event_id in history and on_b.event_id in history, node.endpoint
        assert history.index(on_b.event_id) < history.index(on_a.event_id), "newest first"
        paged = ids_of(lookup_all(ct, "ResourceName", key, MaxResults=1))
        assert paged == history, "one event a page gives the same history"
    cli = AwsCli(home=tmp_path / "cli-home", region=REGION, creds=creds, endpoint=b.endpoint)
    found = cli.run("cloudtrail", "lookup-events", "--lookup-attributes",
                    f"AttributeKey=EventId,AttributeValue={on_a.event_id}").json()["Events"]
    assert ids_of(found) == [on_a.event_id], "node B finds the event node A recorded"
    time.sleep(1.1)
    latest = audited(kb.encrypt(KeyId=key, Plaintext=b"latest"))
    last = ka.get_key_last_usage(KeyId=key)["KeyLastUsage"]
    assert last["CloudTrailEventId"] == latest.event_id, "A reports B's newer use"
    usage = usage_rows(kagi_audit(kagi_bin, a, "usage", key).stdout)
    encrypts = sum(1 for e in lookup_all(cloudtrail_client(a.endpoint, creds), "ResourceName", key)
                   if e["EventName"] == "Encrypt")
    assert usage["Encrypt"].calls == encrypts >= 5, usage

    # Each node kept its own audit log; `kagi audit verify` checks them together...
    assert a.stop() == 0 and b.stop() == 0
    dirs = [str(tmp_path / "node0" / "audit"), str(tmp_path / "node1" / "audit")]
    both = run_kagi(kagi_bin, "audit", "verify", *dirs, check=False)
    assert both.returncode == 0 and "all 2 audit logs verified" in both.stdout, both.stdout
    # ...and names the one that was altered.
    seg = segments(tmp_path / "node1" / "audit")[0]
    records = read_segment(seg)
    victim = next(r for r in records if b'"Encrypt"' in r.payload)
    data = bytearray(seg.read_bytes())
    forged = encode_record(victim.seq, victim.payload.replace(b'"Encrypt"', b'"Decrypt"'))
    data[victim.offset:victim.offset + len(forged)] = forged
    seg.write_bytes(bytes(data))
    after = run_kagi(kagi_bin, "audit", "verify", *dirs, check=False)
    assert after.returncode != 0, after.stdout
    assert f"verification FAILED for {dirs[1]}" in after.stderr, after.stderr
    assert "verification OK" in after.stdout, "the untouched node's log still verifies"


def test_a_node_killed_under_load_loses_nothing_acknowledged(start_kagi, kagi_bin, tmp_path,
                                                             pg_url):
    nodes, creds = start_nodes(start_kagi, tmp_path, pg_url, 3)
    victim = nodes[1]
    clients = [[kms_client(n.endpoint, REGION, creds) for n in nodes] for _ in range(WORKERS)]
    acked_keys: list[str] = []
    acked_blobs: list[tuple[bytes, bytes]] = []
    victim_events: list[str] = []  # events the victim acknowledged
    errors_before_kill: list[str] = []
    lock = threading.Lock()
    killed = threading.Event()

    def worker(w: int) -> None:
        i = 0
        while not (killed.is_set() and i > 0 and time.monotonic() > deadline):
            n = (w + i) % 3
            kms = clients[w][n]
            plain = f"w{w}-{i}".encode()
            try:
                created = kms.create_key()
                key = created["KeyMetadata"]["KeyId"]
                blob = kms.encrypt(KeyId=key, Plaintext=plain)
            except Exception as e:  # noqa: BLE001
                if not killed.is_set() or n != 1:
                    with lock:
                        errors_before_kill.append(f"worker {w} node {n}: {e!r}")
                i += 1
                continue
            with lock:
                acked_keys.append(key)
                acked_blobs.append((blob["CiphertextBlob"], plain))
                if n == 1:
                    victim_events.append(audited(created).event_id)
                    victim_events.append(audited(blob).event_id)
            i += 1

    deadline = time.monotonic() + 2 * LOAD_S
    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(WORKERS)]
    for t in threads:
        t.start()
    time.sleep(LOAD_S)
    killed.set()
    victim.kill()  # SIGKILL: no shutdown, no final checkpoint
    killed_at = time.monotonic()
    for t in threads:
        t.join(60)
        assert not t.is_alive(), "a client thread hung after a node was killed"
    assert not errors_before_kill, errors_before_kill[:5]
    assert len(victim_events) >= 10, f"too little load on the victim: {len(victim_events)}"

    # Every acknowledged key and ciphertext is there, through the surviving nodes.
    survivors = [kms_client(nodes[n].endpoint, REGION, creds) for n in (0, 2)]
    for i, key in enumerate(acked_keys):
        survivors[i % 2].describe_key(KeyId=key)
    for i, (blob, plain) in enumerate(acked_blobs):
        assert survivors[i % 2].decrypt(CiphertextBlob=blob)["Plaintext"] == plain
    print(f"after kill -9 of one of 3 nodes: {len(acked_keys)} keys and ciphertexts intact")

    # While the dead node's registration is fresh, lookups on the others refuse (its events
    # would be missing); once it has lapsed they answer without it.
    ct0 = cloudtrail_client(nodes[0].endpoint, creds)  # never retries
    refusals = 0
    while True:
        try:
            ct0.lookup_events(MaxResults=1)
            break
        except Exception as e:  # noqa: BLE001
            code = getattr(e, "response", {}).get("Error", {}).get("Code", repr(e))
            assert code == "DependencyTimeoutException", code
            refusals += 1
            assert time.monotonic() - killed_at < LIVENESS_S + 5, "lookups still refused"
            time.sleep(0.2)
    print(f"lookups refused {refusals} times; answered {time.monotonic() - killed_at:.1f} s "
          "after the kill")

    # The victim's own audit log has every event it acknowledged, verifies, and once it is
    # back a surviving node finds every one of those events.
    restarted = start_kagi(data_dir=tmp_path / "node1", extra_args=("--store", pg_url))
    lost = [e for e in victim_events if ids_of(lookup_all(ct0, "EventId", e)) != [e]]
    assert not lost, f"{len(lost)} of {len(victim_events)} acknowledged events are gone"
    assert restarted.stop() == 0
    assert_verified(kagi_verify(kagi_bin, tmp_path / "node1" / "audit"))
