count(distinct merchant)
