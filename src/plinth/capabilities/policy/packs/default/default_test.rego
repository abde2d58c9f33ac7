# Tests of the default pack (plinth policy test --pack default). They call each rule's
# violations(input) function with an input: rego-cpp (regopy 1.5.2) cannot yet evaluate
# built-ins under `with input as`, so the tests pass the input as an argument instead.
package plinth.default.default_test

import future.keywords.if
import future.keywords.in

import data.plinth.default.agent_egress
import data.plinth.default.data_residency
import data.plinth.default.image_digests
import data.plinth.default.public_ingress
import data.plinth.default.resource_limits
import data.plinth.default.signed_models

web(image, resources) := {
	"name": "web", "type": "service", "action": "create", "agent": "",
	"spec": {"containers": {"main": {"image": image}}, "resources": resources},
}

env(tier) := {"name": tier, "tier": tier, "protected": tier == "prod", "region": "us-east-1"}

limited := {"cpu": "500m", "memory": "256Mi"}

route := {"name": "shop-route", "type": "route", "action": "create", "agent": "", "spec": {"host": "shop.example", "path": "/"}}

test_a_route_in_prod_needs_approval if {
	count(public_ingress.violations({"environment": env("prod"), "resources": [route]})) == 1
}

test_a_release_manager_carries_the_approval if {
	rita := {"name": "rita", "type": "human", "roles": ["release-manager"]}
	count(public_ingress.violations({"environment": env("prod"), "resources": [route], "actor": rita})) == 0
}

test_a_route_in_dev_is_fine if {
	count(public_ingress.violations({"environment": env("dev"), "resources": [route]})) == 0
}

test_limits_are_required_in_prod if {
	some v in resource_limits.violations({"environment": env("prod"), "resources": [web("nginx", {})]})
	v.resource == "web"
}

test_limits_set_pass if {
	count(resource_limits.violations({"environment": env("prod"), "resources": [web("nginx", limited)]})) == 0
}

test_a_tag_in_prod_needs_approval if {
	count(image_digests.violations({"environment": env("prod"), "resources": [web("ghcr.io/acme/web:1", limited)]})) == 1
}

test_a_digest_in_prod_is_fine if {
	image := "ghcr.io/acme/web@sha256:0000000000000000000000000000000000000000000000000000000000000000"
	count(image_digests.violations({"environment": env("prod"), "resources": [web(image, limited)]})) == 0
}

test_classified_projects_stay_in_their_regions if {
	project := {"name": "vault", "classification": "classified"}
	count(data_residency.violations({"environment": env("prod"), "resources": [web("nginx", limited)], "project": project})) == 1
	eu := object.union(env("prod"), {"region": "eu-west-1"})
	count(data_residency.violations({"environment": eu, "resources": [web("nginx", limited)], "project": project})) == 0
}

test_unsigned_models_are_denied if {
	count(signed_models.violations({"models": {"churn@2.0.0": {"ok": false, "reason": "churn@2.0.0 is not signed"}}})) == 1
	count(signed_models.violations({"models": {"churn@1.0.0": {"ok": true}}})) == 0
}

test_agent_workloads_declare_egress if {
	bot := object.union(web("ghcr.io/acme/bot:1", limited), {"agent": "triage-bot"})
	count(agent_egress.violations({"environment": env("dev"), "resources": [bot]})) == 1
	declared := object.union(bot, {"spec": object.union(bot.spec, {"egress": {"allow": []}})})
	count(agent_egress.violations({"environment": env("dev"), "resources": [declared]})) == 0
}
