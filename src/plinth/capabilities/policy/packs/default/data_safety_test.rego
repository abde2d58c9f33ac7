# Tests of the data-safety rule (plinth policy test --pack default).
package plinth.default.data_safety_test

import future.keywords.if
import future.keywords.in

import data.plinth.default.data_safety

env(tier) := {"name": tier, "tier": tier, "protected": tier == "prod"}

db(action, before, after) := {
	"name": "shop-db", "type": "postgres", "action": action,
	"before": {"database": before}, "spec": {"database": after},
}

vm(action, before, after) := {
	"name": "shop-legacy", "type": "vm", "action": action,
	"before": {"disks": before}, "spec": {"disks": after},
}

test_a_database_replace_needs_approval if {
	some v in data_safety.violations({"environment": env("dev"), "resources": [db("replace", "orders", "billing")]})
	v.resource == "shop-db"
	contains(v.msg, "drops its database")
}

test_a_database_update_is_fine if {
	count(data_safety.violations({"environment": env("dev"), "resources": [db("update", "orders", "orders")]})) == 0
}

test_a_removed_vm_disk_is_named if {
	change := vm("update", [{"name": "data", "size": "1Gi"}, {"name": "logs", "size": "1Gi"}], [{"name": "data", "size": "1Gi"}])
	found := data_safety.violations({"environment": env("dev"), "resources": [change]})
	count(found) == 1
	some v in found
	contains(v.msg, "disk logs")
}

test_a_shrunk_vm_disk_needs_approval if {
	change := vm("replace", [{"name": "data", "size": "2Gi"}], [{"name": "data", "size": "512Mi"}])
	some v in data_safety.violations({"environment": env("dev"), "resources": [change]})
	contains(v.msg, "shrinks from 2Gi to 512Mi")
}

test_a_grown_vm_disk_is_fine if {
	change := vm("replace", [{"name": "data", "size": "1Gi"}], [{"name": "data", "size": "2Gi"}, {"name": "new", "size": "1Gi"}])
	count(data_safety.violations({"environment": env("dev"), "resources": [change]})) == 0
}

test_a_volume_removed_from_a_workload_needs_approval if {
	gone := {"name": "shop-files", "type": "volume", "action": "delete", "before": {"size": "1Gi"}, "spec": {}}
	count(data_safety.violations({"environment": env("dev"), "resources": [gone], "documents": []})) == 1
}

test_deleting_a_workload_in_dev_is_its_own_approval if {
	gone := {"name": "shop-files", "type": "volume", "action": "delete", "before": {"size": "1Gi"}, "spec": {}}
	docs := [{"kind": "Workload", "name": "shop", "action": "delete"}]
	count(data_safety.violations({"environment": env("dev"), "resources": [gone], "documents": docs})) == 0
	count(data_safety.violations({"environment": env("prod"), "resources": [gone], "documents": docs})) == 1
}

test_a_never_realised_database_holds_nothing if {
	never := object.union(db("replace", null, "orders"), {"realised": false})
	count(data_safety.violations({"environment": env("dev"), "resources": [never]})) == 0
}
