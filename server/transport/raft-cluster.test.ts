/**
 * Three RawNodes (MemoryStorage, no WAL) replicating through three PeerTransports on 127.0.0.1,
 * each driven by a tiny host loop (tick timer; Ready → storage → send → apply → advance). The
 * cluster elects a leader and commits on all members; with the leader's transport closed the other
 * two elect a new leader and keep committing; once the log has been compacted, the member whose
 * transport restarts catches up through a snapshot sent over the wire, then through appends.
 */
import { decodeConfChange, MemoryStorage, RawNode, seededRandom } from '../raft';
import { ConfState, EntryType, Message, MemberId, StateType } from '../raft/types';
import { PeerTransport } from './transport';
import { MemoryLogger, waitFor } from './testing/helpers';

const CLUSTER = 0x5eedn;
const IDS: MemberId[] = [1n, 2n, 3n];
const TICK_MS = 10;
const text = new TextEncoder();
const untext = new TextDecoder();

class Member {
  readonly storage = new MemoryStorage({ confState: { voters: IDS, learners: [] } });
  readonly node: RawNode;
  transport: PeerTransport | undefined;
  port = 0;
  /** The state machine: the data of every applied normal entry, in order. */
  values: string[] = [];
  appliedIndex = 0;
  confState: ConfState = { voters: [], learners: [] };
  snapshotsInstalled = 0;
  private readonly ticker: NodeJS.Timeout;
  private pumpScheduled = false;

  constructor(
    readonly id: MemberId,
    private readonly peerUrl: (id: MemberId) => string,
  ) {
    this.node = new RawNode({ id, storage: this.storage, electionTicks: 10, heartbeatTicks: 1, random: seededRandom(Number(id)), preVote: true, checkQuorum: true });
    this.ticker = setInterval(() => {
      this.node.tick();
      this.pump();
    }, TICK_MS);
  }

  async startTransport(): Promise<void> {
    const t = new PeerTransport({
      memberId: this.id,
      clusterId: CLUSTER,
      listenPeerUrls: [new URL(`http://127.0.0.1:${this.port}`)],
      peers: new Map(),
      onMessage: (m: Message) => {
        this.node.step(m);
        this.schedulePump();
      },
      onUnreachable: (id) => {
        this.node.reportUnreachable(id);
        this.schedulePump();
      },
      onSnapshotStatus: (id, ok) => {
        this.node.reportSnapshot(id, ok);
        this.schedulePump();
      },
      log: new MemoryLogger(`m${this.id}`),
      limits: { backoffMinMs: 20, backoffMaxMs: 200 },
    });
    await t.start();
    this.port = Number(t.boundUrls()[0].port);
    this.transport = t;
  }

  connect(): void {
    for (const p of IDS) if (p !== this.id) this.transport?.addPeer(p, [this.peerUrl(p)]);
  }

  async stopTransport(): Promise<void> {
    const t = this.transport;
    this.transport = undefined;
    await t?.close();
  }

  async stop(): Promise<void> {
    clearInterval(this.ticker);
    await this.stopTransport();
  }

  isLeader(): boolean {
    return this.node.status().state === StateType.Leader;
  }

  /** Takes a snapshot of the state machine at the applied index and compacts the log up to it. */
  compact(): void {
    this.storage.createSnapshot(this.appliedIndex, this.confState, text.encode(JSON.stringify(this.values)));
    this.storage.compact(this.appliedIndex);
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  /** The host loop: persist (memory), send, apply, advance, until there is no more work. */
  pump(): void {
    while (this.node.hasReady()) {
      const rd = this.node.ready();
      if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
        this.storage.applySnapshot(rd.snapshot);
        this.values = JSON.parse(untext.decode(rd.snapshot.data)) as string[];
        this.appliedIndex = rd.snapshot.metadata.index;
        this.confState = rd.snapshot.metadata.confState;
        this.snapshotsInstalled++;
      }
      this.storage.append(rd.entries);
      if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
      this.transport?.send(rd.messages);
      for (const e of rd.committedEntries) {
        if (e.index <= this.appliedIndex) continue;
        if (e.type === EntryType.ConfChange) this.confState = this.node.applyConfChange(decodeConfChange(e.data));
        else if (e.data.length > 0) this.values.push(untext.decode(e.data));
        this.appliedIndex = e.index;
      }
      this.node.advance(rd);
    }
  }
}

async function proposeAll(members: Member[], from: number, count: number): Promise<void> {
  for (let k = from; k < from + count; k++) {
    await waitFor(`a leader to take proposal ${k}`, () => {
      const leader = members.find((m) => m.isLeader());
      if (leader === undefined) return false;
      try {
        leader.node.propose(text.encode(`v${k}`));
      } catch {
        return false;
      }
      leader.pump();
      return true;
    });
  }
}

function expected(count: number): string[] {
  return Array.from({ length: count }, (_, k) => `v${k}`);
}

describe('three RawNodes over PeerTransport', () => {
  const members: Member[] = [];
  afterAll(async () => {
    await Promise.all(members.map((m) => m.stop()));
  });

  test('elect, commit, lose a member, commit with two, catch the member up by snapshot', async () => {
    const url = (id: MemberId): string => `http://127.0.0.1:${members[Number(id) - 1].port}`;
    for (const id of IDS) members.push(new Member(id, url));
    for (const m of members) await m.startTransport();
    for (const m of members) m.connect();

    await waitFor('a leader all agree on', () => {
      const leads = members.map((m) => m.node.status().lead);
      return leads[0] !== 0n && leads.every((l) => l === leads[0]);
    });
    await proposeAll(members, 0, 100);
    await waitFor('100 values on every member', () => members.every((m) => m.values.length === 100));
    for (const m of members) expect(m.values).toEqual(expected(100));

    // Cut the leader off: the other two elect a new leader and keep committing.
    const lost = members.find((m) => m.isLeader()) as Member;
    const rest = members.filter((m) => m !== lost);
    await lost.stopTransport();
    await waitFor('a new leader among the other two', () => rest.some((m) => m.isLeader()), 10_000);
    await proposeAll(rest, 100, 100);
    await waitFor('200 values on the two', () => rest.every((m) => m.values.length === 200));
    for (const m of rest) expect(m.values).toEqual(expected(200));
    expect(lost.values.length).toBe(100);

    // Compact the live members' logs past what the lost member has, so that it needs a snapshot.
    for (const m of rest) m.compact();
    await lost.startTransport();
    lost.connect();
    await waitFor('the lost member caught up', () => lost.values.length === 200, 15_000);
    expect(lost.values).toEqual(expected(200));
    expect(lost.snapshotsInstalled).toBe(1);

    // And it keeps up by appends afterwards.
    await proposeAll(members, 200, 20);
    await waitFor('220 values everywhere', () => members.every((m) => m.values.length === 220));
    for (const m of members) expect(m.values).toEqual(expected(220));
    expect(new Set(members.map((m) => m.appliedIndex)).size).toBe(1);
  });
});
