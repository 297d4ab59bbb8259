# mirrorcap.pkr.hcl: bake the mirrorcap appliance AMI on the official Debian 13 AMI.
#   packer init ami/                 (Packer >= 1.7: plugins.pkr.hcl fetches the amazon plugin)
#   packer build -var region=eu-west-1 ami/
# (Packer 1.6, Debian 12's, has amazon-ebs built in: packer build ami/mirrorcap.pkr.hcl.)
# One provisioner does the work: ami/provision.sh (docs/aws.md "Bake").

packer {
  required_version = ">= 1.6.6"
}

variable "region" {
  type        = string
  default     = "us-east-1"
  description = "Region to build the AMI in."
}

variable "instance_type" {
  type        = string
  default     = "c6i.xlarge"
  description = "Build instance (ENA, Nitro). The AMI runs on any ENA instance type: hugepages and isolated cores are set at boot."
}

variable "ami_name_prefix" {
  type    = string
  default = "mirrorcap"
}

variable "source_tarball" {
  type        = string
  default     = "mirrorcap-src.tar.gz"
  description = "The source tree, made by the first provisioner with git archive."
}

variable "volume_size_gib" {
  type    = number
  default = 30
}

locals {
  stamp = formatdate("YYYYMMDD-hhmmss", timestamp())
}

source "amazon-ebs" "debian13" {
  region        = var.region
  instance_type = var.instance_type
  ami_name      = "${var.ami_name_prefix}-debian13-${local.stamp}"
  ena_support   = true
  sriov_support = true
  ssh_username  = "admin"

  source_ami_filter {
    filters = {
      name                = "debian-13-amd64-*"
      architecture        = "x86_64"
      virtualization-type = "hvm"
      root-device-type    = "ebs"
    }
    owners      = ["136693071363"] # Debian's official AMI account
    most_recent = true
  }

  launch_block_device_mappings {
    device_name           = "/dev/xvda"
    volume_size           = var.volume_size_gib
    volume_type           = "gp3"
    iops                  = 3000
    throughput            = 125
    delete_on_termination = true
  }

  tags = {
    Name        = "${var.ami_name_prefix}-debian13-${local.stamp}"
    Application = "mirrorcap"
    BaseAMI     = "{{ .SourceAMIName }}"
  }
}

build {
  sources = ["source.amazon-ebs.debian13"]

  # The committed tree, without build products.
  provisioner "shell-local" {
    inline = ["git -C ${path.root}/.. archive --format=tar.gz -o ${abspath(var.source_tarball)} HEAD"]
  }

  provisioner "file" {
    source      = var.source_tarball
    destination = "/tmp/mirrorcap-src.tar.gz"
    generated   = true # made by the shell-local step above
  }

  provisioner "shell" {
    inline = [
      "mkdir -p /tmp/mirrorcap-src && tar -xzf /tmp/mirrorcap-src.tar.gz -C /tmp/mirrorcap-src",
      "sudo SRC=/tmp/mirrorcap-src bash /tmp/mirrorcap-src/ami/provision.sh",
      "rm -rf /tmp/mirrorcap-src /tmp/mirrorcap-src.tar.gz",
    ]
  }
}
