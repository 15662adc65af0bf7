create source if not exists clicks__raw
    in cluster quickstart
    from webhook body format json
