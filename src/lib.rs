//! mirrorcap: the target appliance for AWS VPC Traffic Mirroring. See `DESIGN.md` in the
//! project's shared folder and README.md for the map of modules.
