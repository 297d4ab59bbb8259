# plugins.pkr.hcl: the plugin mirrorcap.pkr.hcl needs on Packer >= 1.7 (`packer init ami/`).
# A file of its own because Packer 1.6 (Debian 12's; amazon-ebs built in) rejects this block.
packer {
  required_plugins {
    amazon = {
      version = ">= 1.2.0"
      source  = "github.com/hashicorp/amazon"
    }
  }
}
