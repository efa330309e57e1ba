{
  "targets": [
    {
      "target_name": "roce_udp",
      "sources": ["native/roce-udp.cc"],
      "cflags_cc": ["-O2", "-fno-exceptions", "-Wall", "-Wextra"],
      "conditions": [
        ["OS!='linux'", { "type": "none", "sources": [] }]
      ]
    }
  ]
}
