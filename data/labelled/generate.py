"""Generate seed.csv: labelled examples for the monitored topic (run: python data/labelled/generate.py).

Hand-written sentences in several registers, combined with openers/closers and place names; a share
of social posts is rewritten without diacritics, as many people type them. Deterministic (fixed seed).
"""

from __future__ import annotations

import csv
import random
import unicodedata
from pathlib import Path

OUT = Path(__file__).resolve().parent / "seed.csv"
RNG = random.Random(20261126)

PLACES = [
    "Hà Nội",
    "Nghệ An",
    "Thanh Hóa",
    "Bình Dương",
    "Cần Thơ",
    "Quảng Nam",
    "Thái Bình",
    "Đắk Lắk",
    "Hải Dương",
    "Long An",
    "Bắc Giang",
    "Gia Lai",
    "Hà Tĩnh",
    "Kiên Giang",
    "Phú Thọ",
]

OPEN_VI = [
    "",
    "",
    "Nóng: ",
    "Mọi người ơi, ",
    "Chia sẻ gấp!!! ",
    "Nghe nói ",
    "Tin từ người quen làm ở phường: ",
    "Cả xóm đang bàn tán: ",
    "Thông báo khẩn: ",
    "Ae ơi ",
    "Có ai biết không, ",
    "Đọc được trên nhóm Zalo: ",
]
CLOSE_VI = [
    "",
    "",
    " Share cho người thân biết!!!",
    " Thật không vậy mọi người?",
    " 😡😡😡",
    " Quá vô lý!",
    " Ai ở {p} xác nhận giúp với.",
    " Lo quá các bác ạ.",
    " Chia sẻ để bà con biết mà chuẩn bị.",
    " Sốc thật sự.",
]
OPEN_EN = ["", "BREAKING: ", "Friends in Vietnam, ", "Heard from a relative that ", "PSA: "]
CLOSE_EN = ["", " Share before they delete this!", " Is this true??", " Unbelievable.", " Spread the word."]

# --- on-topic false claims: paraphrases of the 12 narratives --------------------------------------

FALSE_VI: dict[str, list[str]] = {
    "cccd-merger": [
        "sau khi sáp nhập tỉnh, toàn bộ căn cước công dân gắn chip phải làm lại, mỗi người mất phí 200 nghìn, không làm là thẻ hết giá trị",
        "từ tháng sau CCCD cũ ghi tên tỉnh cũ sẽ bị vô hiệu, ai không đổi thẻ mới thì không giao dịch ngân hàng được",
        "công an {p} yêu cầu người dân đi cấp lại căn cước vì địa chỉ thay đổi sau sáp nhập xã, nộp lệ phí tại chỗ",
        "thẻ căn cước chip của bạn sẽ không còn hiệu lực khi tỉnh bị gộp, phải xếp hàng làm lại hết, tốn tiền tốn thời gian",
        "hạn chót đổi CCCD sau sáp nhập là cuối năm nay, quá hạn bị phạt và thẻ bị khóa",
        "sáp nhập xong thì căn cước phải in lại địa chỉ mới, bắt buộc cả nhà đi làm, mỗi thẻ vài trăm nghìn",
    ],
    "vneid-bank": [
        "cài VNeID là nhà nước xem được hết số dư tài khoản ngân hàng của bạn và có thể trừ tiền bất cứ lúc nào",
        "ứng dụng VNeID liên kết ngân hàng để thu thuế tự động, tiền trong tài khoản sẽ bị rút mà không cần hỏi",
        "đừng tích hợp tài khoản ngân hàng vào VNeID, nhà nước sẽ theo dõi và phong tỏa tiền của dân",
        "VNeID mức 2 cho phép cơ quan chức năng rút tiền trực tiếp từ tài khoản để nộp phạt",
        "nghe nói dữ liệu VNeID gắn với ngân hàng để chính phủ kiểm soát từng đồng trong thẻ của mọi người",
    ],
    "severance-none": [
        "cán bộ nghỉ việc do sắp xếp bộ máy sẽ không được đồng nào trợ cấp, bị đuổi thẳng luôn",
        "tinh giản biên chế lần này là cho nghỉ không lương, không chế độ, không bảo hiểm gì hết",
        "công chức xã bị dôi dư sau sáp nhập chỉ nhận quyết định thôi việc, không có chính sách hỗ trợ nào",
        "bạn tôi làm ở huyện, sáp nhập xong bị cho nghỉ mà không được một đồng trợ cấp thôi việc",
        "nhà nước cắt biên chế nhưng không chi trả gì cho người nghỉ, cứ thế mà về quê",
    ],
    "district-travel": [
        "bỏ cấp huyện rồi thì mọi thủ tục giấy tờ đều phải lên tận tỉnh làm, người dân vùng xa khổ rồi",
        "từ nay làm giấy khai sinh, đăng ký đất đai đều phải đi lên trung tâm tỉnh {p}, cả trăm cây số",
        "không còn huyện nữa nên xã không giải quyết được gì, cái gì cũng phải ra thành phố tỉnh",
        "bà con ở huyện cũ giờ muốn chứng thực một tờ giấy cũng phải bắt xe lên tỉnh, mất cả ngày",
        "chính quyền hai cấp nghĩa là dân phải tự lên tỉnh nộp hồ sơ, xã chỉ còn để cho có",
    ],
    "land-cert-invalid": [
        "sổ đỏ cấp trước khi sáp nhập sẽ hết hiệu lực, phải làm lại sổ mới và đóng phí trước bạ lần nữa",
        "sáp nhập tỉnh xong thì giấy chứng nhận quyền sử dụng đất ghi địa chỉ cũ bị vô giá trị, không bán được nhà",
        "chủ đất ở {p} phải đi đổi sổ đỏ trước cuối năm, không đổi thì mất quyền sở hữu",
        "văn phòng đăng ký đất đai thu tiền cấp đổi sổ hồng vì tên xã thay đổi, bắt buộc với mọi hộ",
        "sổ đỏ tên huyện cũ sẽ không còn giá trị pháp lý khi bỏ cấp huyện, lo mà đi làm lại",
    ],
    "cash-ban": [
        "từ ngày 1/1 năm sau cấm dùng tiền mặt, mọi giao dịch phải chuyển khoản, ai giữ tiền mặt sẽ bị phạt",
        "nhà nước sắp thu hồi tiền mặt, chợ cũng không được bán bằng tiền mặt nữa, chỉ được quét QR",
        "thông tin chính thức: tiền mặt sẽ bị khai tử, lương hưu và mua bán đều phải qua tài khoản",
        "đề án không dùng tiền mặt nghĩa là cấm tiêu tiền giấy, người già không có điện thoại thì chịu",
        "sắp tới ai rút tiền mặt quá 10 triệu sẽ bị điều tra, tiến tới bỏ hẳn tiền mặt",
    ],
    "vneid-spyware": [
        "VNeID là phần mềm gián điệp, nó đọc hết tin nhắn Zalo và Messenger của bạn",
        "toàn bộ dữ liệu trên VNeID đã bị lộ, thông tin cá nhân của cả nước đang bị rao bán",
        "cài VNeID là bị nghe lén điện thoại, camera tự bật, đừng cài nếu không muốn bị theo dõi",
        "hacker đã lấy hết dữ liệu dân cư từ VNeID, thông tin căn cước của mọi người bị bán công khai",
        "ứng dụng VNeID xin quyền đọc tin nhắn để theo dõi người dân, xóa ngay đi",
    ],
    "hometown-docs": [
        "sáp nhập tỉnh làm thay đổi quê quán, nên giấy khai sinh, bằng đại học, hộ chiếu đều phải làm lại hết",
        "tên tỉnh cũ không còn nên mọi bằng cấp ghi quê {p} sẽ không được công nhận, phải xin cấp lại",
        "từ giờ quê quán trên giấy tờ phải sửa theo tỉnh mới, ai không sửa thì giấy tờ mất giá trị",
        "gộp tỉnh là phải đi trích lục lại khai sinh, đổi sổ bảo hiểm, đổi bằng lái, tốn cả đống tiền",
        "học sinh phải làm lại học bạ và giấy khai sinh vì nơi sinh đổi tên sau sáp nhập",
    ],
    "pension-cut": [
        "lương hưu của cán bộ về hưu sẽ bị cắt 30% để lấy tiền chi cho sắp xếp bộ máy",
        "nghe nói từ quý sau lương hưu giảm gần một phần ba vì ngân sách dồn cho tinh giản biên chế",
        "người về hưu chuẩn bị tinh thần đi, nhà nước sẽ giảm 30 phần trăm lương hưu để trả trợ cấp cho người nghỉ việc",
        "bố tôi nhận được tin lương hưu bị cắt bớt để bù vào chi phí sáp nhập tỉnh, thật quá đáng",
        "quỹ hưu trí cạn nên hưu trí viên sẽ bị cắt 30% lương từ năm sau",
    ],
    "vneid-phishing": [
        "Bộ Công an thông báo: cập nhật VNeID mức 2 tại đường link này trước ngày 30, nếu không tài khoản bị khóa",
        "tin nhắn từ VNeID: quý khách vui lòng nộp phí 50.000đ để nâng cấp định danh điện tử mức độ 2, bấm vào link",
        "đây là link chính thức để kích hoạt lại VNeID sau sáp nhập, nhập số CCCD và mật khẩu ngân hàng để xác minh",
        "cán bộ công an gọi điện hướng dẫn tải app VNeID bản mới qua đường link gửi trong Zalo, làm ngay kẻo bị phạt",
        "mọi người bấm vào link vneid-capnhat để cập nhật thông tin cư trú theo địa giới mới, hạn chót tuần này",
    ],
    "teacher-cuts": [
        "đợt tinh giản này sẽ cho nghỉ 20% giáo viên và bác sĩ trên cả nước",
        "ngành giáo dục sắp mất 1/5 giáo viên vì cắt giảm biên chế, trường ở {p} đã có danh sách",
        "bệnh viện tuyến huyện sẽ đóng cửa và 20% y bác sĩ bị cho thôi việc khi bỏ cấp huyện",
        "giáo viên hợp đồng và biên chế đều bị cắt 20 phần trăm, ai lớn tuổi nghỉ trước",
        "tinh giản biên chế nhắm vào giáo viên, bác sĩ: cứ 5 người thì 1 người bị cho nghỉ",
    ],
    "plates-change": [
        "sáp nhập tỉnh thì biển số xe phải đổi sang mã tỉnh mới, chủ xe tự chịu chi phí",
        "xe máy, ô tô mang biển số tỉnh cũ sẽ bị phạt nếu không đổi biển trước cuối năm",
        "công an {p} thông báo đổi biển số hàng loạt vì mã tỉnh thay đổi, mỗi xe mất mấy trăm nghìn",
        "gộp tỉnh xong biển kiểm soát cũ hết hiệu lực, đi đăng ký lại biển mới tốn tiền",
        "ai có xe thì chuẩn bị tiền đi bấm lại biển số theo tỉnh mới, nghe nói bắt buộc",
    ],
}

FALSE_EN: dict[str, list[str]] = {
    "cccd-merger": [
        "after the province mergers every Vietnamese citizen must pay to re-do their chip ID card or it becomes invalid",
        "old CCCD cards with the former province name will stop working; replacements cost a fee",
    ],
    "vneid-bank": [
        "the VNeID app lets the government see and withdraw money from your bank account",
        "linking VNeID to your bank means the state can take money from it at any time",
    ],
    "severance-none": [
        "civil servants laid off in Vietnam's restructuring get no severance at all, they are just fired",
        "officials cut in the merger receive zero benefits, no pay-out, nothing",
    ],
    "district-travel": [
        "with districts abolished, villagers now have to travel to the provincial capital for every document",
        "no more district offices: all paperwork must be done in the province city now",
    ],
    "land-cert-invalid": [
        "land-use certificates issued before the mergers are invalid and must be reissued for a fee",
        "your red book (land title) is worthless after the province merger unless you pay to replace it",
    ],
    "cash-ban": [
        "Vietnam will ban cash from January, all payments must be electronic",
        "cash is being abolished in Vietnam, paying with banknotes will be illegal",
    ],
    "vneid-spyware": [
        "VNeID is spyware that reads your private messages",
        "VNeID leaked the personal data of the whole population, it is all for sale online",
    ],
    "hometown-docs": [
        "because provinces merged, birth certificates and university degrees all have to be redone",
        "the mergers change everyone's hometown so every diploma and ID paper must be reissued",
    ],
    "pension-cut": [
        "retired officials' pensions will be cut by 30% to pay for the restructuring",
        "pensions are being slashed by almost a third to fund the apparatus streamlining",
    ],
    "vneid-phishing": [
        "official notice: update your VNeID to level 2 via this link and pay the fee or your account is locked",
        "the SMS asking you to pay a fee to upgrade VNeID is from the Ministry of Public Security, do it now",
    ],
    "teacher-cuts": [
        "20% of teachers and doctors will be dismissed in the staff downsizing",
        "one in five teachers and doctors will lose their jobs in the cuts",
    ],
    "plates-change": [
        "all licence plates must be changed at the owner's cost because province codes change",
        "drivers must buy new number plates after the province mergers or be fined",
    ],
}

# --- on-topic accurate reporting (includes accurate corrections of the narratives) --------------

ACCURATE_VI = [
    "UBND tỉnh {p} tổ chức hội nghị triển khai sắp xếp đơn vị hành chính cấp xã theo mô hình chính quyền địa phương hai cấp",
    "Bộ Công an khẳng định căn cước công dân đã cấp vẫn còn nguyên giá trị sử dụng sau khi sắp xếp đơn vị hành chính, người dân không phải đổi",
    "theo quy định hiện hành, thẻ căn cước có thông tin địa chỉ cũ vẫn được sử dụng đến hết thời hạn ghi trên thẻ",
    "cán bộ, công chức nghỉ việc do sắp xếp bộ máy được hưởng chính sách trợ cấp theo quy định hiện hành, tính theo số năm công tác",
    "Sở Nội vụ {p} công bố danh sách cán bộ đăng ký nghỉ hưu trước tuổi và mức hỗ trợ dự kiến",
    "giấy chứng nhận quyền sử dụng đất đã cấp vẫn có giá trị pháp lý, việc cập nhật địa giới hành chính mới được thực hiện khi người dân có nhu cầu và không thu phí",
    "Ngân hàng Nhà nước cho biết tiền mặt vẫn là phương tiện thanh toán hợp pháp, đề án thanh toán không dùng tiền mặt chỉ khuyến khích chứ không cấm",
    "VNeID không có chức năng truy cập hay rút tiền từ tài khoản ngân hàng của người dân, Cục Cảnh sát quản lý hành chính về trật tự xã hội cho biết",
    "công an xã {p} khuyến cáo người dân không bấm vào đường link lạ tự xưng cập nhật VNeID, ứng dụng chỉ tải từ kho ứng dụng chính thức",
    "Bộ Giáo dục và Đào tạo cho biết không cắt giảm giáo viên đứng lớp trong quá trình sắp xếp bộ máy, ngành vẫn đang thiếu giáo viên",
    "Bộ Công an: người dân không phải đổi biển số xe khi sắp xếp địa giới hành chính, biển số đã cấp tiếp tục sử dụng",
    "giấy khai sinh, văn bằng đã cấp trước khi sáp nhập vẫn có hiệu lực, không phải làm lại",
    "lương hưu được chi trả đầy đủ theo quy định, không có chủ trương cắt giảm lương hưu để phục vụ sắp xếp bộ máy",
    "sau khi bỏ cấp huyện, các thủ tục hành chính được phân cấp về xã và trung tâm phục vụ hành chính công cấp xã tiếp nhận hồ sơ",
    "người dân {p} có thể nộp hồ sơ trực tuyến trên Cổng dịch vụ công quốc gia mà không cần đến trụ sở",
    "tỉnh {p} đạt tỷ lệ hồ sơ trực tuyến toàn trình cao nhờ đẩy mạnh chuyển đổi số trong giải quyết thủ tục hành chính",
    "Quốc hội thảo luận phương án sắp xếp, hợp nhất một số tỉnh, thành phố, giảm số đơn vị hành chính cấp tỉnh",
    "Chính phủ hợp nhất một số bộ, ngành nhằm tinh gọn bộ máy, giảm đầu mối trung gian",
    "Đề án 06 về phát triển ứng dụng dữ liệu dân cư, định danh và xác thực điện tử tiếp tục được triển khai tại các địa phương",
    "hơn một nửa dân số trưởng thành đã kích hoạt tài khoản định danh điện tử VNeID mức độ 2",
    "người dân có thể dùng VNeID thay cho thẻ căn cước khi làm thủ tục tại sân bay và một số dịch vụ công",
    "Trung tâm phục vụ hành chính công xã mới hoạt động từ đầu tháng, tiếp nhận hàng trăm hồ sơ mỗi ngày",
    "cơ sở dữ liệu quốc gia về dân cư được kết nối với các bộ, ngành để giảm giấy tờ cho người dân",
    "Bộ Nội vụ hướng dẫn cách tính trợ cấp cho cán bộ, công chức, viên chức nghỉ việc do sắp xếp tổ chức bộ máy",
    "cán bộ cấp xã dôi dư được bố trí công tác khác hoặc hưởng chế độ nghỉ việc theo nguyện vọng",
    "tỉnh {p} ban hành kế hoạch sắp xếp trụ sở dôi dư sau khi hợp nhất các sở, ngành",
    "Chính phủ đặt mục tiêu tăng tỷ lệ thanh toán không dùng tiền mặt, đồng thời vẫn bảo đảm quyền sử dụng tiền mặt của người dân",
    "sau sắp xếp, mã số biển xe mới chỉ áp dụng khi đăng ký xe lần đầu, xe cũ giữ nguyên biển",
    "dữ liệu trên ứng dụng VNeID được bảo vệ theo quy định về bảo vệ dữ liệu cá nhân, cơ quan chức năng chưa ghi nhận sự cố lộ lọt",
    "công an {p} cảnh báo thủ đoạn giả danh cán bộ gọi điện yêu cầu cài ứng dụng VNeID giả để chiếm đoạt tài khoản",
    "chuyển đổi số quốc gia giúp giảm thời gian giải quyết thủ tục, người dân ít phải đi lại",
    "xã mới sau sáp nhập ở {p} đã công khai số điện thoại đường dây nóng và lịch tiếp dân",
    "tinh giản biên chế gắn với cơ cấu lại đội ngũ, nâng cao chất lượng cán bộ, công chức",
    "người dân không cần làm lại giấy tờ khi địa danh thay đổi; thông tin mới sẽ được cập nhật dần khi có giao dịch",
    "bệnh viện và trường học vẫn hoạt động bình thường trong quá trình sắp xếp đơn vị hành chính",
    "chính quyền địa phương hai cấp gồm cấp tỉnh và cấp xã chính thức vận hành sau khi kết thúc hoạt động cấp huyện",
    "các bộ sau hợp nhất đã kiện toàn lãnh đạo và ổn định tổ chức, bảo đảm không gián đoạn công việc",
    "Cổng dịch vụ công quốc gia bổ sung nhiều thủ tục liên thông như khai sinh, thường trú, bảo hiểm y tế cho trẻ dưới 6 tuổi",
    "người cao tuổi được hỗ trợ cài đặt và sử dụng VNeID tại nhà văn hóa thôn",
    "ngân sách chi trả chế độ cho người nghỉ việc do sắp xếp bộ máy được bố trí từ nguồn cải cách tiền lương",
]

ACCURATE_EN = [
    "Vietnam's National Assembly approved a plan to merge provinces and move to a two-tier local government",
    "the Ministry of Public Security says existing chip ID cards remain valid after the administrative mergers",
    "officials who leave because of the restructuring receive severance calculated on their years of service",
    "the State Bank says cash remains legal tender; the cashless payment plan encourages but does not ban cash",
    "VNeID has no function to access or withdraw money from bank accounts, police said",
    "police in {p} warned residents about fake links asking them to 'upgrade' VNeID; the app is free in official stores",
    "land-use certificates issued before the mergers remain legally valid, authorities confirmed",
    "commune-level public service centres now receive documents that used to go to district offices",
    "Vietnam merged several ministries to streamline the government apparatus",
    "more than half of adults have activated a level-2 VNeID electronic identity account",
    "existing licence plates stay in use after the province mergers; new codes apply only to new registrations",
    "the education ministry said classroom teachers are not being cut in the restructuring",
    "the national public service portal now offers end-to-end online applications for common procedures",
    "Project 06 links the population database with ministries to reduce paperwork",
    "Vietnam's provinces will be reduced in number under the administrative merger plan",
    "district-level administrations in Vietnam stopped operating as communes took over their services",
    "civil servants in Vietnam can apply for early retirement under the streamlining policy",
    "citizens can use the VNeID app instead of a physical ID card at airports in Vietnam",
    "Vietnam's government aims to put most public services online as part of its digital transformation",
    "the merged ministries in Hanoi have appointed new leadership teams",
    "Vietnam police warned that fake VNeID apps are being used to steal bank details",
]

ACCURATE_OPEN_VI = [
    "",
    "",
    "",
    "Theo báo {p}, ",
    "Cổng thông tin điện tử tỉnh {p}: ",
    "(Thời sự) ",
    "Tin tức: ",
]

# --- off-topic noise ----------------------------------------------------------------------------

OFF_VI = [
    "giá vàng miếng SJC hôm nay tăng mạnh, vượt mốc cao nhất trong tháng",
    "đội tuyển Việt Nam thắng 2-0 trong trận giao hữu tối qua, HLV hài lòng với các cầu thủ trẻ",
    "dự báo thời tiết: miền Bắc đón đợt không khí lạnh mới, nhiệt độ Hà Nội giảm xuống 15 độ",
    "bão số 5 có khả năng mạnh thêm khi vào Biển Đông, các tỉnh ven biển chủ động phòng tránh",
    "ca sĩ nổi tiếng tung MV mới đạt hàng triệu lượt xem sau một ngày",
    "công thức làm bánh flan mềm mịn không bị rỗ, ai cũng làm được tại nhà",
    "giá xăng dầu kỳ điều hành chiều nay giảm nhẹ",
    "CLB Hà Nội giành chiến thắng kịch tính ở vòng 10 V-League",
    "mẹo chăm sóc cây lan trong mùa nắng nóng để hoa nở đẹp",
    "phim Việt chiếu Tết thu hơn trăm tỷ đồng doanh thu phòng vé",
    "hoa hậu đăng quang tối qua chia sẻ về dự định làm từ thiện",
    "giá heo hơi hôm nay đi ngang ở hầu hết các tỉnh phía Nam",
    "kết quả xổ số miền Bắc hôm nay, giải đặc biệt thuộc về vé bán tại Thái Bình",
    "ùn tắc kéo dài trên đường Vành đai 3 giờ cao điểm chiều nay",
    "iPhone mới về Việt Nam, giá bán thấp hơn dự kiến",
    "bí quyết giảm cân sau Tết: ăn nhiều rau, ngủ đủ giấc, tập thể dục đều đặn",
    "Hội An lung linh đêm rằm, du khách nườm nượp thả đèn hoa đăng",
    "lịch thi đấu SEA Games của đoàn thể thao Việt Nam tuần này",
    "cách nấu phở bò chuẩn vị Hà Nội với nước dùng trong và thơm",
    "nam diễn viên xác nhận đã kết hôn sau nhiều năm hẹn hò",
    "chứng khoán phiên sáng giảm điểm, nhóm ngân hàng chịu áp lực bán",
    "lúa gạo xuất khẩu được giá, nông dân miền Tây phấn khởi",
    "mưa lớn gây ngập nhiều tuyến phố ở {p} chiều nay",
    "tuyển thủ bóng chuyền nữ được vinh danh vận động viên tiêu biểu của năm",
    "nắng nóng gay gắt, chỉ số tia UV ở mức nguy hại cao",
    "khai mạc lễ hội hoa xuân, hàng nghìn người đến tham quan",
    "cô gái trẻ kể chuyện đi phượt một mình qua đèo Mã Pì Lèng",
    "tỷ giá USD trong ngân hàng tăng nhẹ sáng nay",
    "quán cà phê view đẹp mới mở ở Đà Lạt thu hút giới trẻ",
    "tai nạn giao thông trên quốc lộ 1 khiến hai người bị thương",
    "bà con nông dân {p} thu hoạch vải thiều sớm, giá bán tại vườn ổn định",
    "trận chung kết giải bóng đá sinh viên diễn ra trên sân Mỹ Đình",
    "nữ ca sĩ hủy show vào phút chót vì lý do sức khỏe",
    "mẹo giữ rau tươi lâu trong tủ lạnh mà không mất chất",
    "giá bất động sản ven đô tiếp tục tăng trong quý này",
    "uống nước chanh nóng mỗi sáng chữa khỏi ung thư, các bác sĩ giấu kín",
    "ăn tỏi sống mỗi ngày giúp miễn nhiễm hoàn toàn với cúm",
    "nam danh hài bị đồn qua đời, thực ra vẫn khỏe mạnh và đang quay phim",
    "đường sắt cao tốc Bắc - Nam khởi công đoạn đầu tiên",
    "thi tốt nghiệp THPT năm nay có bao nhiêu thí sinh đăng ký",
    "mùa lúa chín vàng ở Mù Cang Chải hút khách du lịch",
    "cá heo xuất hiện gần bờ biển Nha Trang khiến du khách thích thú",
    "giải chạy marathon quốc tế thu hút hơn mười nghìn vận động viên",
    "quy trình chăm sóc da mùa đông cho da khô",
    "hot girl mạng xã hội bị chỉ trích vì phát ngôn gây tranh cãi",
]

OFF_EN = [
    "gold prices in Vietnam hit a record high this week",
    "Vietnam beat Thailand 2-1 in the regional football final",
    "a cold front will bring temperatures down to 12 degrees in Hanoi this weekend",
    "typhoon expected to make landfall in central Vietnam on Friday",
    "the pop star's new music video passed 10 million views",
    "ten street foods you must try in Ho Chi Minh City",
    "stock market closes lower as bank shares slide",
    "rice exports rose strongly in the first quarter",
    "new coffee shops are opening along the Da Lat lake front",
    "the marathon in Hanoi drew runners from 40 countries",
    "drinking hot lemon water every morning cures cancer, doctors don't want you to know",
    "how to keep your orchids blooming through the hot season",
    "the film broke box-office records over the Lunar New Year holiday",
    "heavy rain flooded streets in the old quarter this afternoon",
]

# Other public affairs (health, elections, other countries' governments, the economy): same register as
# the topic, different subject. Without them "official-sounding English" alone looked on-topic.
OFF_PUBLIC_EN = [
    "the health ministry reported 120 new dengue cases in the southern provinces this week",
    "the UK government announced a new round of lockdown measures for the winter",
    "US senators debate a bill on federal infrastructure spending",
    "WHO says a new vaccine trial showed strong results in older adults",
    "the central bank kept interest rates unchanged at its monthly meeting",
    "Thailand's parliament elected a new prime minister after weeks of talks",
    "schools reopen after the summer break with new health guidelines",
    "the city council approved a budget for flood defences along the river",
    "inflation eased slightly last month as fuel prices fell",
    "the prime minister of Japan visited Jakarta to discuss trade",
    "a minister resigned after a corruption scandal in the procurement agency",
    "electricity prices will rise by 4 percent from next month, the utility said",
    "masks are no longer required on public transport, officials announced",
    "new tariffs on steel imports take effect on Monday",
    "hospitals are under pressure as flu season peaks",
    "the European Commission proposed new rules for artificial intelligence",
    "a bill to raise the minimum wage passed its first reading",
    "vaccination clinics will stay open late for the holiday weekend",
    "the census shows the population of the capital grew by two percent",
    "drinking bleach does not cure COVID-19, health experts warn",
    "5G towers spread the coronavirus, a viral post claims",
    "the president signed an executive order on cybersecurity in federal agencies",
    "police arrested three people over a fake charity scam after the floods",
    "a court ruled the election results in the district valid",
    "the airline cancelled dozens of flights because of the storm",
]

OFF_PUBLIC_VI = [
    "Bộ Y tế khuyến cáo người dân phòng chống sốt xuất huyết trong mùa mưa",
    "giá điện sinh hoạt dự kiến tăng từ tháng sau, EVN cho biết",
    "Quốc hội thảo luận dự án luật thuế thu nhập cá nhân sửa đổi",
    "bầu cử tổng thống Mỹ: hai ứng viên tranh luận trực tiếp lần thứ hai",
    "ngân hàng nhà nước giữ nguyên lãi suất điều hành",
    "học sinh trở lại trường sau kỳ nghỉ hè với lịch học mới",
    "bệnh viện quá tải vì số ca cúm tăng mạnh",
    "lạm phát tháng này giảm nhẹ nhờ giá xăng hạ",
    "tòa án xét xử vụ lừa đảo chiếm đoạt tiền từ thiện",
    "uống nước lá ổi chữa khỏi tiểu đường, chia sẻ ngay cho người thân",
    "Thủ tướng Nhật Bản thăm chính thức Indonesia, bàn về thương mại",
    "triển khai tiêm vắc xin sởi cho trẻ em tại các trạm y tế",
    "thành phố phê duyệt dự án chống ngập dọc sông",
    "hàng nghìn công nhân được tăng lương tối thiểu vùng từ năm sau",
    "cảnh sát giao thông tăng cường kiểm tra nồng độ cồn dịp cuối năm",
]

OFF_OPEN_VI = ["", "", "", "Tin nhanh: ", "Xem ngay: ", "Hot: ", "[Video] "]


def no_diacritics(text: str) -> str:
    """Strip accents the way people type in a hurry ('đ' -> 'd')."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def place(text: str) -> str:
    return text.replace("{p}", RNG.choice(PLACES))


def social(core: str, opens: list[str], closes: list[str], strip_rate: float) -> str:
    """A social-media style post around a core sentence."""
    opener = RNG.choice(opens)
    body = core if opener and opener[-1] not in ".:!" else cap(core)
    text = place(f"{opener}{body}.{RNG.choice(closes)}").replace("..", ".")
    if RNG.random() < 0.12:
        text = (
            f'"{text}" — ai biết đúng sai thế nào?' if opens is OPEN_VI else f'"{text}" — can anyone confirm?'
        )
    if RNG.random() < strip_rate:
        text = no_diacritics(text)
    return cap(text.strip())


def rows() -> list[dict[str, str]]:
    """All labelled rows, in a fixed order."""
    out: list[dict[str, str]] = []
    for key, cores in FALSE_VI.items():
        variants = [social(c, OPEN_VI, CLOSE_VI, rate) for rate in (0.3, 0.5, 0.2) for c in cores]
        for text in dict.fromkeys(variants):
            out.append({"text": text, "lang": "vi", "relevant": "1", "false_claim": "1", "narrative": key})
    for key, cores in FALSE_EN.items():
        for c in cores:
            out.append(
                {
                    "text": social(c, OPEN_EN, CLOSE_EN, 0.0),
                    "lang": "en",
                    "relevant": "1",
                    "false_claim": "1",
                    "narrative": key,
                }
            )
    for c in ACCURATE_VI:
        for _ in range(3):
            text = place(cap(f"{RNG.choice(ACCURATE_OPEN_VI)}{c}."))
            if RNG.random() < 0.15:
                text = no_diacritics(text)
            out.append(
                {"text": cap(text), "lang": "vi", "relevant": "1", "false_claim": "0", "narrative": ""}
            )
    for c in ACCURATE_EN:
        out.append(
            {"text": place(cap(c)) + ".", "lang": "en", "relevant": "1", "false_claim": "0", "narrative": ""}
        )
    for c in OFF_VI:
        for _ in range(2):
            text = place(cap(f"{RNG.choice(OFF_OPEN_VI)}{c}"))
            if RNG.random() < 0.2:
                text = no_diacritics(text)
            hoax = "chữa khỏi" in c or "miễn nhiễm" in c or "qua đời" in c
            out.append(
                {
                    "text": text,
                    "lang": "vi",
                    "relevant": "0",
                    "false_claim": "1" if hoax else "0",
                    "narrative": "",
                }
            )
    for c in OFF_PUBLIC_VI:
        hoax = "chữa khỏi" in c
        out.append(
            {
                "text": place(cap(c)) + ".",
                "lang": "vi",
                "relevant": "0",
                "false_claim": "1" if hoax else "0",
                "narrative": "",
            }
        )
    for c in OFF_PUBLIC_EN:
        hoax = "spread the coronavirus" in c
        out.append(
            {
                "text": cap(c) + ".",
                "lang": "en",
                "relevant": "0",
                "false_claim": "1" if hoax else "0",
                "narrative": "",
            }
        )
    for c in OFF_EN:
        hoax = "cures cancer" in c
        out.append(
            {
                "text": place(cap(c)) + ".",
                "lang": "en",
                "relevant": "0",
                "false_claim": "1" if hoax else "0",
                "narrative": "",
            }
        )
    seen: set[str] = set()
    unique = []
    for r in out:
        if r["text"] not in seen:
            seen.add(r["text"])
            unique.append(r)
    return unique


def main() -> None:
    """Write seed.csv."""
    data = rows()
    with OUT.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["text", "lang", "relevant", "false_claim", "narrative"])
        writer.writeheader()
        writer.writerows(data)
    print(f"wrote {len(data)} rows to {OUT}")


if __name__ == "__main__":
    main()
