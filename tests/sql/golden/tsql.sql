-- orders? -- orders, first page
-- params: [101]
SELECT TOP (?) [OrdNo], [OrdDt], [OrdTp], [TrTp], [CustNo], [SupNo], [Nm], [Ad1], [Ad2], [Ad3], [PNo], [PArea], [DelNm], [DelAd1], [DelAd2], [DelAd3], [DelPNo], [DelPArea], [DelMt], [DelTrm], [DelDt], [CSOrdNo], [Inf], [Inf2], [Inf3], [Inf4], [Inf5], [Inf6], [YrRef], [OurRef], [Cur], [ExRt], [SelBuy], [PmtTrm], [R1], [R2], [Gr], [Gr12], [TransGr], [TransGr2], [CtrAm], [OrdSum], [NoteNm], [LiaActNo], [DelActNo], [ShpActNo], [InvoNo], [InvoCust], [MainOrd], [OrdBasNo], [ArDt], [Free1], [WebPg] FROM [dbo].[Ord] ORDER BY [OrdNo];

-- orders?$top=5&$count=true -- orders, top and count
-- params: [5]
SELECT TOP (?) [OrdNo], [OrdDt], [OrdTp], [TrTp], [CustNo], [SupNo], [Nm], [Ad1], [Ad2], [Ad3], [PNo], [PArea], [DelNm], [DelAd1], [DelAd2], [DelAd3], [DelPNo], [DelPArea], [DelMt], [DelTrm], [DelDt], [CSOrdNo], [Inf], [Inf2], [Inf3], [Inf4], [Inf5], [Inf6], [YrRef], [OurRef], [Cur], [ExRt], [SelBuy], [PmtTrm], [R1], [R2], [Gr], [Gr12], [TransGr], [TransGr2], [CtrAm], [OrdSum], [NoteNm], [LiaActNo], [DelActNo], [ShpActNo], [InvoNo], [InvoCust], [MainOrd], [OrdBasNo], [ArDt], [Free1], [WebPg] FROM [dbo].[Ord] ORDER BY [OrdNo];

-- orders?$top=5&$count=true -- the count
-- params: []
SELECT COUNT_BIG(*) FROM [dbo].[Ord];

-- orders?$orderby=OrderDate desc,Name&$skip=40&$top=20 -- orders, two sort columns, skip and top
-- params: [40, 20]
SELECT [OrdNo], [OrdDt], [OrdTp], [TrTp], [CustNo], [SupNo], [Nm], [Ad1], [Ad2], [Ad3], [PNo], [PArea], [DelNm], [DelAd1], [DelAd2], [DelAd3], [DelPNo], [DelPArea], [DelMt], [DelTrm], [DelDt], [CSOrdNo], [Inf], [Inf2], [Inf3], [Inf4], [Inf5], [Inf6], [YrRef], [OurRef], [Cur], [ExRt], [SelBuy], [PmtTrm], [R1], [R2], [Gr], [Gr12], [TransGr], [TransGr2], [CtrAm], [OrdSum], [NoteNm], [LiaActNo], [DelActNo], [ShpActNo], [InvoNo], [InvoCust], [MainOrd], [OrdBasNo], [ArDt], [Free1], [WebPg] FROM [dbo].[Ord] ORDER BY [OrdDt] DESC, [Nm], [OrdNo] OFFSET ? ROWS FETCH NEXT ? ROWS ONLY;

-- orders?$select=OrderNo,Name&$filter=CustomerNo eq 10042 and OrderDate ge 20260101 -- orders, select and filter
-- params: [101, 10042, 20260101]
SELECT TOP (?) [OrdNo], [Nm] FROM [dbo].[Ord] WHERE ([CustNo] = ? AND [OrdDt] >= ?) ORDER BY [OrdNo];

-- associates?$filter=contains(Name,'50%_off') or startswith(tolower(Name),'nord') -- associates, LIKE with wildcards in the text, and a function
-- params: [101, "%50\\%\\_off%", "nord%"]
SELECT TOP (?) [ActNo], [Nm], [Shrt], [CustNo], [SupNo], [EmpNo], [Ad1], [Ad2], [Ad3], [Ad4], [PNo], [PArea], [Ctry], [Phone], [MobPh], [MailAd], [Usr], [LiaAct], [DelToAct], [Inf], [Gr], [R1], [Cur], [PmtTrm], [BsNo], [ChDt], [CreDt], [ACME_Segment] FROM [dbo].[Actor] WHERE ([Nm] LIKE ? ESCAPE '\' OR LOWER([Nm]) LIKE ? ESCAPE '\') ORDER BY [ActNo];

-- associates?$filter=ACME_Segment eq null -- associates, null on an extension column
-- params: [101]
SELECT TOP (?) [ActNo], [Nm], [Shrt], [CustNo], [SupNo], [EmpNo], [Ad1], [Ad2], [Ad3], [Ad4], [PNo], [PArea], [Ctry], [Phone], [MobPh], [MailAd], [Usr], [LiaAct], [DelToAct], [Inf], [Gr], [R1], [Cur], [PmtTrm], [BsNo], [ChDt], [CreDt], [ACME_Segment] FROM [dbo].[Actor] WHERE [ACME_Segment] IS NULL ORDER BY [ActNo];

-- associates?$filter=ACME_Segment ne 'Retail' and not (length(Name) gt 20) -- associates, ne on a nullable column, not, length
-- params: [101, "Retail", 20]
SELECT TOP (?) [ActNo], [Nm], [Shrt], [CustNo], [SupNo], [EmpNo], [Ad1], [Ad2], [Ad3], [Ad4], [PNo], [PArea], [Ctry], [Phone], [MobPh], [MailAd], [Usr], [LiaAct], [DelToAct], [Inf], [Gr], [R1], [Cur], [PmtTrm], [BsNo], [ChDt], [CreDt], [ACME_Segment] FROM [dbo].[Actor] WHERE (([ACME_Segment] IS NULL OR [ACME_Segment] <> ?) AND NOT ((LEN([Nm] + N'x') - 1) > ?)) ORDER BY [ActNo];

-- orderlines?$filter=OrderNo in (1, 2, 3) and AmountInCurrency gt 99.5&$orderby=AmountInCurrency desc -- order lines, in and a decimal order
-- params: [101, 1, 2, 3, "99.5"]
SELECT TOP (?) [OrdNo], [LnNo], [ProdNo], [Descr], [NoInvoAb], [Price], [Am], [DPrice], [DAm], [VatAm], [Dc1P], [Un], [TrInf1], [TrInf2], [TrInf3], [TrInf4], [NoFin], [FinN], [NoInvo], [NoOrg], [NoReg], [ProdTp3], [ProdTp4], [TrTp], [TrDt], [DelDt], [CfDelDt], [DurDt], [Srt], [PurcNo], [LstSetDt], [StHLnNo], [Cur], [StcNo], [WebPg], [PictFNm] FROM [dbo].[OrdLn] WHERE ([OrdNo] IN (?, ?, ?) AND [Am] > ?) ORDER BY [Am] DESC, [OrdNo], [LnNo];

-- orderlines?$select=OrderNo,LineNo -- order lines, next page by the composite key
-- params: [101, 1001, 1001, 1001, 2]
SELECT TOP (?) [OrdNo], [LnNo] FROM [dbo].[OrdLn] WHERE [OrdNo] >= ? AND (([OrdNo] > ?) OR ([OrdNo] = ? AND [LnNo] > ?)) ORDER BY [OrdNo], [LnNo];

-- orders?$orderby=CustomerNo desc -- orders, next page sorted descending
-- params: [101, 10042, 10042, 10042, 1234]
SELECT TOP (?) [OrdNo], [OrdDt], [OrdTp], [TrTp], [CustNo], [SupNo], [Nm], [Ad1], [Ad2], [Ad3], [PNo], [PArea], [DelNm], [DelAd1], [DelAd2], [DelAd3], [DelPNo], [DelPArea], [DelMt], [DelTrm], [DelDt], [CSOrdNo], [Inf], [Inf2], [Inf3], [Inf4], [Inf5], [Inf6], [YrRef], [OurRef], [Cur], [ExRt], [SelBuy], [PmtTrm], [R1], [R2], [Gr], [Gr12], [TransGr], [TransGr2], [CtrAm], [OrdSum], [NoteNm], [LiaActNo], [DelActNo], [ShpActNo], [InvoNo], [InvoCust], [MainOrd], [OrdBasNo], [ArDt], [Free1], [WebPg] FROM [dbo].[Ord] WHERE [CustNo] <= ? AND (([CustNo] < ?) OR ([CustNo] = ? AND [OrdNo] > ?)) ORDER BY [CustNo] DESC, [OrdNo];

-- associates?$orderby=ACME_Segment desc -- associates, next page after a NULL sorted descending
-- params: [101, 77]
SELECT TOP (?) [ActNo], [Nm], [Shrt], [CustNo], [SupNo], [EmpNo], [Ad1], [Ad2], [Ad3], [Ad4], [PNo], [PArea], [Ctry], [Phone], [MobPh], [MailAd], [Usr], [LiaAct], [DelToAct], [Inf], [Gr], [R1], [Cur], [PmtTrm], [BsNo], [ChDt], [CreDt], [ACME_Segment] FROM [dbo].[Actor] WHERE (([ACME_Segment] IS NULL AND [ActNo] > ?)) ORDER BY [ACME_Segment] DESC, [ActNo];

-- associates?$orderby=ACME_Segment -- associates, next page after a value, nullable ascending
-- params: [101, "Retail", "Retail", 77]
SELECT TOP (?) [ActNo], [Nm], [Shrt], [CustNo], [SupNo], [EmpNo], [Ad1], [Ad2], [Ad3], [Ad4], [PNo], [PArea], [Ctry], [Phone], [MobPh], [MailAd], [Usr], [LiaAct], [DelToAct], [Inf], [Gr], [R1], [Cur], [PmtTrm], [BsNo], [ChDt], [CreDt], [ACME_Segment] FROM [dbo].[Actor] WHERE (([ACME_Segment] > ?) OR ([ACME_Segment] = ? AND [ActNo] > ?)) ORDER BY [ACME_Segment], [ActNo];

-- companies?$select=CompanyNo,Name -- companies in vbsys
-- params: [101]
SELECT TOP (?) [FrmNo], [Nm] FROM [dbo].[Company] ORDER BY [FrmNo];

-- orderlines/1001/2 -- one row by its composite key
-- params: [1, 1001, 2]
SELECT TOP (?) [OrdNo], [LnNo], [ProdNo], [Descr], [NoInvoAb], [Price], [Am], [DPrice], [DAm], [VatAm], [Dc1P], [Un], [TrInf1], [TrInf2], [TrInf3], [TrInf4], [NoFin], [FinN], [NoInvo], [NoOrg], [NoReg], [ProdTp3], [ProdTp4], [TrTp], [TrDt], [DelDt], [CfDelDt], [DurDt], [Srt], [PurcNo], [LstSetDt], [StHLnNo], [Cur], [StcNo], [WebPg], [PictFNm] FROM [dbo].[OrdLn] WHERE [OrdNo] = ? AND [LnNo] = ?;

-- orders/$count?$filter=startswith(Name,'A') and OrderType eq 1
-- params: ["A%", 1]
SELECT COUNT_BIG(*) FROM [dbo].[Ord] WHERE ([Nm] LIKE ? ESCAPE '\' AND [OrdTp] = ?);

-- catalog crawl: tables, columns, types, primary keys
-- params: []
SELECT o.name, o.is_view, c.name, t.name, CASE WHEN t.name IN ('nchar', 'nvarchar') AND c.max_length > 0 THEN c.max_length / 2 ELSE c.max_length END, c.precision, c.scale, c.is_nullable, COALESCE(ic.key_ordinal, 0) FROM (SELECT object_id, name, schema_id, 0 AS is_view FROM sys.tables WHERE is_ms_shipped = 0 UNION ALL SELECT object_id, name, schema_id, 1 AS is_view FROM sys.views WHERE is_ms_shipped = 0) AS o JOIN sys.columns AS c ON c.object_id = o.object_id JOIN sys.types AS t ON t.user_type_id = c.user_type_id LEFT JOIN sys.indexes AS i ON i.object_id = o.object_id AND i.is_primary_key = 1 LEFT JOIN sys.index_columns AS ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id AND ic.column_id = c.column_id WHERE SCHEMA_NAME(o.schema_id) = 'dbo' ORDER BY o.name, c.column_id;

-- catalog crawl: schema version
-- params: []
SELECT CONVERT(varchar(33), MAX(modify_date), 126) FROM sys.objects WHERE type IN ('U', 'V');

-- health: ping
-- params: []
SELECT 1;
