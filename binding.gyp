{
  "variables": {
    "roce_asan%": 0,
    "roce_sources": ["native/addon.cc", "native/crc.cc", "native/placement.cc", "native/sockio.cc"]
  },
  "target_defaults": {
    "cflags_cc": ["-O2", "-fno-exceptions", "-Wall", "-Wextra"]
  },
  "targets": [
    {
      "target_name": "roce_udp",
      "sources": ["<@(roce_sources)"],
      "conditions": [["OS!='linux'", { "type": "none", "sources": [] }]]
    },
    {
      "target_name": "roce_udp_asan",
      "sources": ["<@(roce_sources)"],
      "cflags_cc": ["-g", "-O1", "-fsanitize=address", "-fno-omit-frame-pointer"],
      "ldflags": ["-fsanitize=address"],
      "conditions": [["OS!='linux' or roce_asan!=1", { "type": "none", "sources": [] }]]
    },
    {
      "target_name": "numaplan_probe",
      "type": "executable",
      "sources": ["native/probe.c"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "conditions": [["OS!='linux'", { "type": "none", "sources": [] }]]
    }
  ]
}
