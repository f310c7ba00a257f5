"""Packages: RPM headers, rpmbuild, roll artifacts and the roll store, the distribution repository
(createrepo_c + comps), and dnf depsolving/installing. The rest of rocks imports rpm, dnf,
createrepo_c and libcomps only through these modules."""
