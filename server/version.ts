/**
 * Versions Cairn reports. Clients and Kubernetes read the server version to decide which etcd
 * features they may use; Cairn speaks the etcd 3.5 API (a superset of 3.4's), so it reports a 3.5
 * release recent enough that Kubernetes enables its 3.5 features (e.g. watch progress requests).
 */
export const ETCD_SERVER_VERSION = '3.5.17';
export const ETCD_CLUSTER_VERSION = '3.5.0';
/** Cairn's own version. */
export const CAIRN_VERSION = '0.1.0';
