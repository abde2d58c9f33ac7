# Images are pinned by digest in prod: a tag can move, a digest cannot.
package plinth.default.image_digests

import future.keywords.contains
import future.keywords.if
import future.keywords.in

import data.plinth.default.lib

pinned(image) if regex.match(`@sha256:[a-f0-9]{64}$`, image)

pinned(image) if {
	some prefix in data.defaults.unpinnable_images
	startswith(image, prefix)
}

needs_approval contains v if some v in violations(input)

violations(inp) := {v |
	lib.prod(inp)
	some [name, container, image] in lib.images_in(inp)
	not pinned(image)
	v := {
		"msg": sprintf("container %s of %s uses image %s by tag in prod", [container, name, image]),
		"resource": name,
		"fix": sprintf("pin the image by digest (%s@sha256:<digest>), or have the plan approved", [image]),
	}
}
