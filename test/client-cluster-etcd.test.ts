/**
 * The SDK against a 3-member etcd 3.4 cluster of real processes on loopback: mutex under
 * contention, KV failover, watch resumption across kill -9, a lease across a leader change
 * (client/testing/cluster-suite.ts).
 */
import { clusterSuite } from '../client/testing/cluster-suite';

clusterSuite('etcd');
